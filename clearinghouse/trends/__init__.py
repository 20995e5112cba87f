"""Weekly series: continual DP release of values and running totals (``continual``) and
forecasts made from the released values only (``forecast``). Pure modules: no Django, no
database; every draw that protects a person is made by OpenDP in ``continual.measure``."""
