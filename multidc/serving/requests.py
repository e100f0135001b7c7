"""Which requests take the fast path: plain numeric rows for a plain numeric signature.

A request is taken only when MLflow would build the same DataFrame from it: exactly one of the
four input formats and nothing else, every column of the signature present once and no other,
every value a JSON number. Anything else returns None and is left to MLflow's scoring code, which
gives its own answer (a prediction after its casts, or its error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

# MLflow type -> the NumPy dtype MLflow casts that column to. Booleans, strings, binaries,
# dates, arrays and objects always take MLflow's path.
_NUMERIC = {"double": np.float64, "long": np.int64}

Rows = list[list[Any]]


@dataclass(frozen=True)
class NumericSignature:
    """The model's input columns, in signature order, when every one is a required number."""

    names: tuple[str, ...]
    dtypes: tuple[type, ...]

    @classmethod
    def of(cls, model) -> Optional["NumericSignature"]:
        """The signature of a loaded pyfunc ``model``, or None when the fast path cannot serve it."""
        metadata = model.metadata
        schema = metadata.get_input_schema()
        if schema is None or schema.is_tensor_spec() or not schema.has_input_names():
            return None
        if getattr(metadata, "_is_signature_from_type_hint", lambda: False)():
            return None
        if metadata.get_params_schema() is not None:
            return None
        dtypes = []
        for spec in schema.inputs:
            kind = getattr(getattr(spec, "type", None), "name", None)
            if kind not in _NUMERIC or not getattr(spec, "required", True):
                return None
            dtypes.append(_NUMERIC[kind])
        names = tuple(schema.input_names())
        if len(set(names)) != len(names):
            return None
        return cls(names, tuple(dtypes))

    def _number_ok(self, value: Any, dtype: type) -> bool:
        kind = type(value)
        return kind is int if dtype is np.int64 else kind is float or kind is int

    def _row(self, values: list[Any]) -> Optional[list[Any]]:
        if len(values) != len(self.dtypes):
            return None
        for value, dtype in zip(values, self.dtypes):
            if not self._number_ok(value, dtype):
                return None
        return values

    def _records(self, records: Any) -> Optional[Rows]:
        if type(records) is not list or not records:
            return None
        wanted, rows = set(self.names), []
        for record in records:
            if type(record) is not dict or record.keys() != wanted:
                return None
            row = self._row([record[name] for name in self.names])
            if row is None:
                return None
            rows.append(row)
        return rows

    def _split(self, split: Any) -> Optional[Rows]:
        if type(split) is not dict or not {"columns", "data"} <= split.keys() <= {"columns", "data", "index"}:
            return None
        columns, data = split["columns"], split["data"]
        if type(columns) is not list or type(data) is not list or not data:
            return None
        # An index labels the rows (pandas writes one); it does not change the predictions.
        if "index" in split and (type(split["index"]) is not list or len(split["index"]) != len(data)):
            return None
        if columns != list(self.names):
            if sorted(map(str, columns)) != sorted(self.names) or len(set(map(str, columns))) != len(columns):
                return None
            order = [columns.index(name) for name in self.names]
            data = [[row[i] for i in order] if type(row) is list and len(row) == len(order) else None
                    for row in data]
        rows = []
        for values in data:
            row = self._row(values) if type(values) is list else None
            if row is None:
                return None
            rows.append(row)
        return rows

    def _columns(self, columns: Any) -> Optional[Rows]:
        if type(columns) is not dict or columns.keys() != set(self.names):
            return None
        lists = [columns[name] for name in self.names]
        if any(type(values) is not list for values in lists) or len({len(v) for v in lists}) != 1 or not lists[0]:
            return None
        return self._split({"columns": list(self.names), "data": [list(row) for row in zip(*lists)]})

    def rows(self, payload: Any) -> Optional[Rows]:
        """The rows of a decoded request body in signature order, or None to leave it to MLflow."""
        if type(payload) is not dict or len(payload) != 1:
            return None
        (key, value), = payload.items()
        if key == "dataframe_split":
            return self._split(value)
        if key == "dataframe_records":
            return self._records(value)
        if key in ("instances", "inputs"):
            return self._columns(value) if type(value) is dict else self._records(value)
        return None

    def frame(self, rows: Rows) -> pd.DataFrame:
        """The DataFrame MLflow would build for ``rows``, with its casts to the signature's types."""
        if all(dtype is np.float64 for dtype in self.dtypes):
            return pd.DataFrame(np.array(rows, dtype=np.float64), columns=list(self.names))
        columns = list(zip(*rows))
        return pd.DataFrame({name: np.array(values, dtype=dtype)
                             for name, values, dtype in zip(self.names, columns, self.dtypes)})
