"""Forms of the web shell (Flask-WTF: CSRF token included)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length

from hubcore import inputs
from hubcore.errors import InvalidInput
from hubcore.identity.passwords import ADVICE, MIN_PASSWORD_LENGTH

PASSWORD_HINT = (f"Use at least {MIN_PASSWORD_LENGTH} characters. {ADVICE} Common passwords, "
                 "and your name or email address, are not accepted.")


class Form(FlaskForm):
    """The base of every form, core and plugins: its text follows ``hubcore.inputs``.

    A text field (``StringField``, and the choice fields) is one line: no
    control characters, line breaks or invisible format characters; a
    ``TextAreaField`` keeps newlines and tabs; a password may hold any
    printable text. The same rule as the API's (``hubcore.api.load``).
    """

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            rule = _text_rule(field)
            if rule is None:
                continue
            values = field.data if isinstance(field.data, (list, tuple)) else [field.data]
            for value in values:
                problem = isinstance(value, str) and inputs.text_problem(value, rule)
                if problem:
                    field.errors = [*field.errors, problem]
                    valid = False
                    break
        return valid


def _text_rule(field) -> str | None:
    if isinstance(field, PasswordField):
        return inputs.ANY_TEXT
    if isinstance(field, TextAreaField):
        return inputs.MULTILINE
    if isinstance(field, (StringField, SelectField, SelectMultipleField, RadioField)):
        return inputs.SINGLE_LINE
    return None


class LoginForm(Form):
    email = EmailField("Email address", validators=[
        DataRequired("Enter your email address."),
        Email("Enter an email address like name@example.org."),
        Length(max=254)])
    password = PasswordField("Password", validators=[
        DataRequired("Enter your password."), Length(max=1024)])


class ChangePasswordForm(Form):
    # The strength rules live in hubcore.identity.passwords; their messages
    # come back through show_domain_errors.
    current_password = PasswordField("Current password", validators=[
        DataRequired("Enter your current password."), Length(max=1024)])
    new_password = PasswordField(
        "New password",
        description=PASSWORD_HINT,
        validators=[DataRequired("Enter a new password.")])


class ForgottenPasswordForm(Form):
    email = EmailField("Email address", validators=[
        DataRequired("Enter your email address."),
        Email("Enter an email address like name@example.org."),
        Length(max=254)])


class SetPasswordForm(Form):
    new_password = PasswordField(
        "New password",
        description=PASSWORD_HINT,
        validators=[DataRequired("Enter a new password.")])
    confirm_password = PasswordField("Confirm your new password", validators=[
        DataRequired("Enter the new password again."),
        EqualTo("new_password", "The two passwords are not the same. Enter them again.")])


def show_domain_errors(form: FlaskForm, exc: InvalidInput,
                       names: dict[str, str] | None = None) -> None:
    """Put a domain error's field messages on the form's fields, for the error summary.

    ``names`` maps the domain's field names to the form's where they differ;
    a message for a field the form does not have goes on its first field.
    """
    names = names or {}
    for name, messages in (exc.fields or {"": [exc.message]}).items():
        name = names.get(name, name)
        field = form[name] if name in form else _first_field(form)
        field.errors = [*field.errors, *messages]


def _first_field(form: FlaskForm):
    return next(field for field in form if field.type not in {"CSRFTokenField", "HiddenField"})
