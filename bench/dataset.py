"""The benchmark's catalogue: the same products, in the same order, for the baseline and for the product.

Plain Python (no Django, no Peewee, no third-party import) so that both seeders can use it. The n-th
product yielded (counting from 1) is meant to get id n in both systems.

Names are adjective + material + noun + model number ("Rugged Walnut Lantern KX-204"), nouns drawn
from the product's category, so that a word fragment matches a small, known share of the catalogue:
SEARCH_TERM ("antern", a fragment of Lantern, a home noun) is in 1/7 x 1/15 = 0.95% of the names
(measured: 0.970% of 1,000,000 products with DEFAULT_SEED), all of them in SEARCH_CATEGORY.
"""
import random

DEFAULT_SEED = 20251020
CATEGORIES = ('electronics', 'clothing', 'books', 'home', 'sports', 'toys', 'other')
# Every product has this much stock, so that order benchmarks never run out.
STOCK_QUANTITY = 1_000_000
SEARCH_TERM = 'antern'
SEARCH_CATEGORY = 'home'
SEARCH_MATCH_FRACTION = 1 / (len(CATEGORIES) * 15)
# Prices are uniform over this range of cents (1.00 to 999.99).
MIN_CENTS, MAX_CENTS = 100, 99_999

ADJECTIVES = ('Compact', 'Deluxe', 'Rugged', 'Classic', 'Modern', 'Vintage', 'Premium', 'Portable',
              'Sleek', 'Ergonomic', 'Handmade', 'Lightweight', 'Sturdy', 'Smart', 'Foldable',
              'Adjustable', 'Wireless', 'Durable', 'Elegant', 'Rustic', 'Minimal', 'Ultra', 'Mini',
              'Grand', 'Cozy', 'Bold', 'Soft', 'Bright', 'Quiet', 'Nimble')
# No material or adjective contains SEARCH_TERM, nor does any noun but Lantern.
MATERIALS = ('Bamboo', 'Oak', 'Walnut', 'Steel', 'Aluminium', 'Cotton', 'Wool', 'Linen', 'Leather',
             'Canvas', 'Ceramic', 'Glass', 'Copper', 'Brass', 'Carbon', 'Silicone', 'Maple', 'Granite',
             'Marble', 'Titanium')
NOUNS = {
    'electronics': ('Headphones', 'Speaker', 'Charger', 'Keyboard', 'Mouse', 'Monitor', 'Router', 'Camera',
                    'Tablet', 'Laptop', 'Drone', 'Projector', 'Microphone', 'Smartwatch', 'Earbuds'),
    'clothing': ('Jacket', 'Sweater', 'Scarf', 'Hoodie', 'Shirt', 'Trousers', 'Dress', 'Cardigan', 'Parka',
                 'Gloves', 'Beanie', 'Vest', 'Blazer', 'Raincoat', 'Socks'),
    'books': ('Notebook', 'Journal', 'Atlas', 'Cookbook', 'Novel', 'Anthology', 'Encyclopedia', 'Almanac',
              'Sketchbook', 'Planner', 'Biography', 'Dictionary', 'Handbook', 'Guidebook', 'Diary'),
    'home': ('Lamp', 'Kettle', 'Teapot', 'Vase', 'Cushion', 'Blanket', 'Mirror', 'Clock', 'Shelf', 'Stool',
             'Rug', 'Candle', 'Skillet', 'Colander', 'Lantern'),
    'sports': ('Racket', 'Helmet', 'Dumbbell', 'Kettlebell', 'Skateboard', 'Surfboard', 'Paddle', 'Yoga Mat',
               'Football', 'Basketball', 'Bicycle', 'Frisbee', 'Compass', 'Tent', 'Backpack'),
    'toys': ('Puzzle', 'Robot', 'Kite', 'Yo-Yo', 'Teddy Bear', 'Spinning Top', 'Train Set', 'Dollhouse',
             'Building Blocks', 'Rocket', 'Xylophone', 'Puppet', 'Race Car', 'Jigsaw', 'Doll'),
    'other': ('Gift Card', 'Umbrella', 'Keychain', 'Wallet', 'Sunglasses', 'Thermos', 'Flashlight', 'Padlock',
              'Toolbox', 'Easel', 'Globe', 'Hourglass', 'Telescope', 'Binoculars', 'Suitcase'),
}
PRAISES = ('built to last', 'a customer favourite', 'made for everyday use', 'easy to clean',
           'backed by a two-year warranty', 'designed in-house', 'great as a gift', 'tested by our team')
SERIES = ('AX', 'BT', 'CR', 'DL', 'EV', 'FX', 'GT', 'HZ', 'KX', 'MQ', 'PR', 'RS', 'SV', 'TW', 'VZ', 'WY')


def products(count, seed=DEFAULT_SEED):
    """Yield `count` product dicts (name, description, price, stock_quantity, category); the same ones
    for the same seed, on any machine."""
    rng = random.Random(seed)
    for _ in range(count):
        category = rng.choice(CATEGORIES)
        adjective, material, noun = rng.choice(ADJECTIVES), rng.choice(MATERIALS), rng.choice(NOUNS[category])
        cents = rng.randint(MIN_CENTS, MAX_CENTS)
        yield {
            'name': f'{adjective} {material} {noun} {rng.choice(SERIES)}-{rng.randint(100, 999)}',
            'description': f'{adjective} {noun.lower()} in {material.lower()}, {rng.choice(PRAISES)}.',
            'price': f'{cents // 100}.{cents % 100:02d}',
            'stock_quantity': STOCK_QUANTITY,
            'category': category,
        }
