from django.urls import path

from support import views

urlpatterns = [
    path("", views.home, name="home"),
    path("customers/", views.customers, name="customers"),
    path("customers/<int:customer_id>/", views.customer, name="customer"),
    path("customers/<int:customer_id>/resync/", views.customer_resync, name="customer_resync"),
    path("customers/<int:customer_id>/drift/", views.customer_drift, name="customer_drift"),
    path("customers/<int:customer_id>/notes/", views.customer_note, name="customer_note"),
    path("tickets/", views.tickets, name="tickets"),
    path("tickets/new/", views.ticket_new, name="ticket_new"),
    path("tickets/<int:ticket_id>/", views.ticket, name="ticket"),
    path("tickets/<int:ticket_id>/assign/", views.ticket_assign, name="ticket_assign"),
    path("tickets/<int:ticket_id>/status/", views.ticket_status, name="ticket_status"),
    path("tickets/<int:ticket_id>/notes/", views.ticket_note, name="ticket_note"),
]
