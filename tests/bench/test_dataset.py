"""bench/dataset.py: the same catalogue for every run, valid for both systems, and a search term of known reach."""
import ast
import re
import sys
from decimal import Decimal
from pathlib import Path

from bench import dataset

SAMPLE = 20_000


def test_the_same_seed_gives_the_same_products_and_another_seed_others():
    assert list(dataset.products(500)) == list(dataset.products(500))
    assert list(dataset.products(500, seed=1)) != list(dataset.products(500))


def test_every_product_is_valid_for_both_systems():
    for product in dataset.products(SAMPLE):
        assert product['category'] in dataset.CATEGORIES
        assert re.fullmatch(r'\d+\.\d\d', product['price']) and Decimal(product['price']) > 0
        assert 1 <= len(product['name']) <= 200
        assert product['stock_quantity'] == dataset.STOCK_QUANTITY


def test_the_search_term_matches_the_documented_share_all_in_its_category():
    matches = [product for product in dataset.products(SAMPLE)
               if dataset.SEARCH_TERM in product['name'].lower()]
    # About 190 expected; 30% is more than four standard deviations of the binomial.
    assert abs(len(matches) / SAMPLE - dataset.SEARCH_MATCH_FRACTION) < 0.3 * dataset.SEARCH_MATCH_FRACTION
    assert {product['category'] for product in matches} == {dataset.SEARCH_CATEGORY}


def test_the_dataset_imports_only_the_standard_library():
    tree = ast.parse(Path(dataset.__file__).read_text())
    imported = {alias.name.split('.')[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split('.')[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= sys.stdlib_module_names
