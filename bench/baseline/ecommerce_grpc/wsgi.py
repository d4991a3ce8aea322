"""The WSGI application gunicorn serves (`gunicorn ecommerce_grpc.wsgi`)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'ecommerce_grpc.settings')

application = get_wsgi_application()
