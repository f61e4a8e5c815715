import os

from django.core.wsgi import get_wsgi_application

from billing.startup import configuration_errors_in_one_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings")
with configuration_errors_in_one_line():
    application = get_wsgi_application()
