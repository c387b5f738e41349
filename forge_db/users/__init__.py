"""Users: accounts and their email addresses (``db.users``, ``db.users.emails``)."""

from .emails import Emails
from .models import EmailAddress, User
from .users import Users

__all__ = ["EmailAddress", "Emails", "User", "Users"]
