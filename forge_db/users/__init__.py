"""Users: accounts, their email addresses and SSH keys (``db.users``, ``db.users.emails``,
``db.users.ssh_keys``)."""

from .emails import Emails
from .models import EmailAddress, SshKey, SshKeyOwner, User
from .ssh_keys import SshKeys
from .users import Users

__all__ = ["EmailAddress", "Emails", "SshKey", "SshKeyOwner", "SshKeys", "User", "Users"]
