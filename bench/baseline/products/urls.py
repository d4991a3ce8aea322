"""/api/products/ routes, trailing slashes as DRF's router writes them; search/ before <id>/."""
from rest_framework.routers import SimpleRouter

from .views import ProductViewSet

router = SimpleRouter()
router.register('', ProductViewSet)

urlpatterns = router.urls
