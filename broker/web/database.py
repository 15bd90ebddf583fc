"""The database of the Flask app: Flask-SQLAlchemy bound to the broker's tables.

The models are declared on the plain :class:`broker.db.Base`, so that the core imports no
Flask; here the extension takes that metadata as its default, so ``db.metadata``,
``db.create_all()``, the migrations and ``db.session`` see every table of the broker.
"""

from __future__ import annotations

from flask_sqlalchemy import SQLAlchemy

from broker.db import Base

db = SQLAlchemy(metadata=Base.metadata)
