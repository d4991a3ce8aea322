"""The seed's admin for products: list columns, filters and search."""
from django.contrib import admin

from .models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ['name', 'category', 'price', 'stock_quantity', 'created_at']
    list_filter = ['category']
    search_fields = ['name', 'description']
