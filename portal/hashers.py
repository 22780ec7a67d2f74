"""How passwords are stored.

Argon2id at the OWASP Password Storage Cheat Sheet's recommended configuration (19 MiB of memory,
2 passes, 1 lane). A signer re-enters the password at every sign-off, so a check must cost tens of
milliseconds: Django's default PBKDF2 (1,000,000 rounds) costs about half a second here, and its
default Argon2 (100 MiB over 8 lanes) about a fifth of one on two cores.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    algorithm = "argon2"  # the same stored format as Django's: either verifies the other's hashes
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
