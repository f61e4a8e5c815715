from django.urls import path

from support import views

urlpatterns = [
    path("", views.home, name="home"),
    path("customers/", views.customers, name="customers"),
    path("customers/<int:customer_id>/", views.customer, name="customer"),
    path("customers/<int:customer_id>/resync/", views.customer_resync, name="customer_resync"),
    path("customers/<int:customer_id>/drift/", views.customer_drift, name="customer_drift"),
    path("tickets/", views.tickets, name="tickets"),
    path("tickets/<int:ticket_id>/", views.ticket, name="ticket"),
]
