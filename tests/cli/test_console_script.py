"""The installed `ecommerce` console script and `make sample-data`'s script as real subprocesses, against real
in-process servers named by the environment."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ecommerce.orders.v1 import orders_pb2
from ecommerce.products.v1 import products_pb2

ROOT = Path(__file__).resolve().parents[2]
ECOMMERCE = Path(sys.executable).parent / 'ecommerce'
SAMPLE_CSV = ROOT / 'scripts' / 'sample_products.csv'


@pytest.fixture
def run(products_address, orders_address):
    """run(*command): a subprocess with the services' addresses in its environment; returns the CompletedProcess."""
    env = {**os.environ, 'PRODUCTS_ADDRESS': products_address, 'ORDERS_ADDRESS': orders_address, 'COLUMNS': '200'}

    def run_command(*command):
        return subprocess.run([str(part) for part in command], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
    return run_command


def sample_rows():
    with open(SAMPLE_CSV, encoding='utf-8') as file:
        return list(csv.DictReader(file))


def test_the_console_script_imports_lists_and_refuses_in_one_line(run, products_stub):
    imported = run(ECOMMERCE, 'products', 'import', SAMPLE_CSV)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith('Imported 14 products, ids ')
    assert '14/14 rows' in imported.stderr
    listed = run(ECOMMERCE, '--json', 'products', 'list', '--all')
    assert listed.returncode == 0, listed.stderr
    products = json.loads(listed.stdout)['products']
    assert [[product[column] for column in ('name', 'description', 'price', 'stock_quantity')] + [
        product['category'].lower()] for product in products] == [
        [row['name'], row['description'], row['price'], int(row['stock_quantity']), row['category']]
        for row in sample_rows()]
    assert products_stub.ListProducts(products_pb2.ListProductsRequest()).total_size == 14

    refused = run(ECOMMERCE, 'products', 'get', '999')
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1, '', 'error: product 999 not found (NOT_FOUND)\n')
    bad_flag = run(ECOMMERCE, 'products', 'list', '--limit', 'many')
    assert bad_flag.returncode == 2 and len(bad_flag.stderr.splitlines()) == 1 and '--limit' in bad_flag.stderr


def test_the_console_script_names_an_address_that_does_not_answer(run):
    unreachable = run(ECOMMERCE, '--orders-address', '127.0.0.1:1', 'orders', 'list')
    assert unreachable.returncode == 3
    assert unreachable.stdout == ''
    [line] = unreachable.stderr.splitlines()
    assert line.startswith('error: cannot reach the Orders service at 127.0.0.1:1 ')


def test_sample_data_imports_the_csv_then_places_the_orders(run, products_stub, orders_stub):
    filled = run(sys.executable, '-m', 'scripts.sample_data')
    assert filled.returncode == 0, filled.stderr
    assert '14/14 rows' in filled.stderr
    products = products_stub.ListProducts(products_pb2.ListProductsRequest(page_size=100)).products
    assert [product.name for product in products] == [row['name'] for row in sample_rows()]
    orders = orders_stub.ListOrders(orders_pb2.ListOrdersRequest()).orders
    assert sorted((order.customer_email, order.total_amount) for order in orders) == [
        ('ada@example.com', '1378.80'), ('alan@example.com', '146.97'), ('grace@example.com', '159.99')]
    again = run(sys.executable, '-m', 'scripts.sample_data')
    assert again.stdout == 'The catalogue already holds 14 products; adding nothing.\n'
