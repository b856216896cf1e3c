"""Spec -> CompiledModel."""

from fitts.compile.compiled import CompiledModel as CompiledModel
from fitts.compile.compiled import ParamInfo as ParamInfo
from fitts.compile.compiled import compile_model as compile_model
