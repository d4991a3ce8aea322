"""manage.py seed_products --count N [--seed S]: bench/dataset.py's catalogue, ids 1..N, in one executemany.

Not the seed's create_sample_data.py (which went through the API): a million products through the ORM
would take minutes, and the benchmark measures serving them, not loading them.
"""
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from products.models import Product

# bench/dataset.py is shared with the product's seeder; the baseline's virtualenv does not install
# the repository, so its root goes on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[5]))
from bench import dataset  # noqa: E402

COLUMNS = ['id', 'name', 'description', 'price', 'stock_quantity', 'category', 'created_at', 'updated_at']


class Command(BaseCommand):
    help = "Load the benchmark's products into an empty products table."

    def add_arguments(self, parser):
        parser.add_argument('--count', type=int, required=True)
        parser.add_argument('--seed', type=int, default=dataset.DEFAULT_SEED)

    def handle(self, *args, count, seed, **options):
        if Product.objects.exists():
            raise CommandError('the products table is not empty; seed a fresh database')
        # Stored as Django stores it: naive UTC text.
        now = Product._meta.get_field('created_at').get_db_prep_save(timezone.now(), connection)
        rows = ((number, product['name'], product['description'], product['price'], product['stock_quantity'],
                 product['category'], now, now)
                for number, product in enumerate(dataset.products(count, seed), start=1))
        statement = 'INSERT INTO {} ({}) VALUES ({})'.format(
            connection.ops.quote_name(Product._meta.db_table), ', '.join(COLUMNS), ', '.join(['%s'] * len(COLUMNS)))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(statement, rows)
        self.stdout.write(f'{count} products (seed {seed})')
