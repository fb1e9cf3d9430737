"""The forms of the sign-in pages (Flask-WTF: each carries the CSRF token as the hidden field csrf_token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired, Length


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Enter your username.")),  # after stripping: spaces are no username
            Length(max=40, message=_l("A username has at most 40 characters.")),
        ],
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(message=_l("Enter your password.")),
            Length(max=200, message=_l("A password has at most 200 characters.")),
        ],
    )


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST another site must not be able to make."""
