"""The seed's order endpoints: place, list, get, change status, cancel (stock given back), by customer."""
from django.db import transaction
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .models import Order
from .serializers import OrderCreateSerializer, OrderSerializer

CANCELLABLE = ('pending', 'processing')


class OrderViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                   viewsets.GenericViewSet):
    queryset = Order.objects.prefetch_related('items')
    serializer_class = OrderSerializer

    def create(self, request, *args, **kwargs):
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = serializer.save()
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    def list(self, request, *args, **kwargs):
        queryset = self.get_queryset()
        if request.query_params.get('status'):
            queryset = queryset.filter(status=request.query_params['status'])
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @action(detail=True, methods=['patch'], url_path='status')
    def update_status(self, request, pk=None):
        order = self.get_object()
        new_status = request.data.get('status')
        if new_status not in dict(Order.STATUS_CHOICES):
            return Response({'error': f'Invalid status: {new_status}'}, status=status.HTTP_400_BAD_REQUEST)
        order.status = new_status
        order.save()
        return Response(self.get_serializer(order).data)

    @action(detail=True, methods=['post'])
    def cancel(self, request, pk=None):
        order = self.get_object()
        if order.status not in CANCELLABLE:
            return Response({'error': f'Cannot cancel an order that is {order.status}.'},
                            status=status.HTTP_400_BAD_REQUEST)
        with transaction.atomic():
            order.status = 'cancelled'
            order.save()
            for item in order.items.select_related('product'):
                if item.product is not None:
                    item.product.stock_quantity += item.quantity
                    item.product.save()
        return Response(self.get_serializer(order).data)

    @action(detail=False, methods=['get'], url_path=r'customer/(?P<email>[^/]+)')
    def customer(self, request, email=None):
        orders = self.get_queryset().filter(customer_email=email)
        return Response(self.get_serializer(orders, many=True).data)
