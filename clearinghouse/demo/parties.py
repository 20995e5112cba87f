"""The demo world's platforms and manufacturers."""

# Names are what every page shows, in both languages, inside sentences ("如果同意：直播购
# LiveBuy 可以…", "If you allow this, 直播购 LiveBuy may…"): a brand in its two scripts, no
# English description in parentheses.
DEMO_PLATFORMS = [
    ("maomall", "猫猫商城 MaoMall"),
    ("livebuy", "直播购 LiveBuy"),
    ("clipshop", "短视频小店 ClipShop"),
]
DEMO_MANUFACTURERS = [
    ("ergochair", "ErgoChair 人体工学椅", ["furniture"]),
    ("yanwo-foods", "燕窝食品 Yanwo Foods", ["food"]),
    ("bloomco", "花开 BloomCo", ["flowers"]),
    ("pixelphone", "像素手机 PixelPhone", ["electronics"]),
]
