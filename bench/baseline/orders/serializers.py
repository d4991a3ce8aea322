"""Orders in and out: an order with its items, and the order to place (items by product id and quantity)."""
from decimal import Decimal

from django.db import transaction
from rest_framework import serializers

from products.models import Product

from .models import Order, OrderItem


class OrderItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderItem
        fields = ['id', 'product', 'product_name', 'quantity', 'price', 'subtotal']


class OrderSerializer(serializers.ModelSerializer):
    items = OrderItemSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = '__all__'


class OrderItemRequestSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    quantity = serializers.IntegerField(min_value=1)


class OrderCreateSerializer(serializers.ModelSerializer):
    items = OrderItemRequestSerializer(many=True)

    class Meta:
        model = Order
        fields = ['customer_name', 'customer_email', 'shipping_address', 'items']

    def validate_items(self, items):
        if not items:
            raise serializers.ValidationError('An order needs at least one item.')
        return items

    def create(self, validated_data):
        """Create the order and its items and take their stock, all or nothing."""
        items = validated_data.pop('items')
        with transaction.atomic():
            # Writing first takes SQLite's write lock at once, so the other worker waits its turn
            # instead of failing with "database is locked".
            order = Order.objects.create(**validated_data)
            total = Decimal('0.00')
            for item in items:
                try:
                    # FOR UPDATE is a no-op on SQLite; Django leaves it out there.
                    product = Product.objects.select_for_update().get(pk=item['product_id'])
                except Product.DoesNotExist:
                    raise serializers.ValidationError({'items': [f"Product {item['product_id']} not found."]})
                if product.stock_quantity < item['quantity']:
                    raise serializers.ValidationError(
                        {'items': [f'Insufficient stock for {product.name}: {product.stock_quantity} left.']})
                order_item = OrderItem.objects.create(order=order, product=product, product_name=product.name,
                                                      quantity=item['quantity'], price=product.price)
                product.stock_quantity -= item['quantity']
                product.save()
                total += order_item.subtotal
            order.total_amount = total
            order.save()
        return order
