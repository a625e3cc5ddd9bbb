"""Die specifications: the JSON file's format, a database row's, and their validation."""

import json
from dataclasses import dataclass

from ops.validation import IDENTIFIER_RULE, die_problem, is_valid_identifier


class SpecificationError(Exception):
    """The specifications file cannot be used; the message names the file and the entry."""


class InvalidStoredSpecification(Exception):
    """A database row that breaks the die contract; the message says what, never the values."""


@dataclass(frozen=True)
class DieSpecification:
    identifier: str
    faces: tuple
    error_rate: float

    def to_dict(self):
        return {"identifier": self.identifier, "faces": list(self.faces), "error_rate": self.error_rate}

    def to_row(self):
        """The row of the die_specifications table (diespec/database/statements.py): faces as a JSON array."""
        return {"identifier": self.identifier, "faces": json.dumps(list(self.faces)), "error_rate": self.error_rate}

    @classmethod
    def from_row(cls, identifier, faces, error_rate):
        """The specification a row holds, or InvalidStoredSpecification: a row may have been
        written by hand, with SQL, and the table checks nothing."""
        try:
            faces = json.loads(faces)
        except (TypeError, ValueError):
            faces = None
        problem = die_problem(faces, error_rate)
        if problem:
            raise InvalidStoredSpecification(problem)
        return cls(identifier, tuple(faces), float(error_rate))


def load_specifications(path):
    """{identifier: DieSpecification}, in file order, from the JSON file at `path`."""
    try:
        with open(path, encoding="utf-8") as spec_file:
            data = json.load(spec_file)
    except FileNotFoundError:
        raise SpecificationError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecificationError(f"{path}: cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise SpecificationError(f"{path}: not valid JSON ({error})") from None
    return parse_specifications(data, source=path)


def parse_specifications(data, source="<data>"):
    if not isinstance(data, dict) or not data:
        raise SpecificationError(f"{source}: must be a non-empty JSON object of identifier -> specification")
    return {identifier: _parse_entry(identifier, entry, source) for identifier, entry in data.items()}


def _parse_entry(identifier, entry, source):
    def problem(text):
        return SpecificationError(f"{source}: entry {identifier!r}: {text}")

    if not is_valid_identifier(identifier):
        raise problem(f"identifier must be {IDENTIFIER_RULE}")
    if not isinstance(entry, dict):
        raise problem('must be an object with "faces" and "error_rate"')
    faces, error_rate = entry.get("faces"), entry.get("error_rate")
    wrong = die_problem(faces, error_rate)
    if wrong:
        raise problem(wrong)
    return DieSpecification(identifier, tuple(faces), float(error_rate))
