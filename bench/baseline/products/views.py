"""The seed's product endpoints: CRUD, the paginated list, and search by name, category and price."""
from rest_framework import viewsets
from rest_framework.decorators import action

from .models import Product
from .serializers import ProductSerializer


class ProductViewSet(viewsets.ModelViewSet):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer

    @action(detail=False, methods=['get'])
    def search(self, request):
        """GET /api/products/search/?q=&category=&min_price=&max_price=, paginated like the list."""
        queryset = self.get_queryset()
        params = request.query_params
        if params.get('q'):
            queryset = queryset.filter(name__icontains=params['q'])
        if params.get('category'):
            queryset = queryset.filter(category=params['category'])
        if params.get('min_price'):
            queryset = queryset.filter(price__gte=params['min_price'])
        if params.get('max_price'):
            queryset = queryset.filter(price__lte=params['max_price'])
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
