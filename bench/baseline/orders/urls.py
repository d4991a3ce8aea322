"""/api/orders/ routes, trailing slashes as DRF's router writes them."""
from rest_framework.routers import SimpleRouter

from .views import OrderViewSet

router = SimpleRouter()
router.register('', OrderViewSet)

urlpatterns = router.urls
