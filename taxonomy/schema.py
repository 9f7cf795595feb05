"""The shape of the taxonomy files, as strict pydantic models.

Every model forbids unknown keys and is frozen: a typo in a key (``sumary:``) is an error that
names the key, not a silently ignored field. Cross-references (families, challenges, citation
keys, demo links, ``builds_on`` cycles) are checked in :mod:`taxonomy.load`, which knows the
file's line numbers.

Demo links: a technique lists every live demo variant that shows it, ``demos: [{id, variant}, ...]``.
Files written before the list existed have a single ``demo: {id, variant}``; it is still read, as a
one-element list (giving both keys is an error).
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

Slug = Field(pattern=r"^[a-z][a-z0-9_]*$", min_length=2, max_length=60)
ShortText = Field(min_length=1, max_length=400)
LongText = Field(min_length=1, max_length=3000)

MODALITIES = (
    "MRI",
    "CT",
    "X-ray",
    "PET",
    "PET-CT",
    "histopathology",
    "dermoscopy",
    "clinical skin photo",
    "fundus",
    "ultrasound",
    "microscopy",
    "multiple",
)
Modality = Literal[MODALITIES]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Meta(Strict):
    title: str = ShortText
    version: int = Field(ge=1)
    survey: str = Field(min_length=1, description="citation key of the survey")
    provenance: str = LongText
    bibliography: Optional[str] = Field(
        default=None, description="bibliography file, relative to the taxonomy file"
    )


class Challenge(Strict):
    id: str = Slug
    name: str = ShortText
    summary: str = LongText
    symptoms: list[str] = Field(default_factory=list)


class Family(Strict):
    id: str = Slug
    name: str = ShortText
    summary: str = LongText


class BiomedicalUse(Strict):
    ref: str = Field(min_length=1, description="citation key")
    modality: Modality
    task: str = ShortText
    note: Optional[str] = Field(default=None, max_length=600)


class DemoLink(Strict):
    id: str = Slug
    variant: str = Slug


class Technique(Strict):
    id: str = Slug
    name: str = ShortText
    family: str = Slug
    primary_challenge: str = Slug
    challenges: list[str] = Field(min_length=1)
    year: int = Field(ge=1990, le=2100)
    summary: str = LongText
    mechanism: str = LongText
    equation: Optional[str] = Field(default=None, max_length=600, description="LaTeX, no $ delimiters")
    reference: str = Field(min_length=1, description="citation key of the primary paper")
    also_see: list[str] = Field(default_factory=list, description="further citation keys")
    builds_on: list[str] = Field(default_factory=list, description="technique ids")
    biomedical_uses: list[BiomedicalUse] = Field(default_factory=list)
    demos: list[DemoLink] = Field(
        default_factory=list, description="live demo variants that show this technique (demos/catalog.py)"
    )
    demo: Optional[DemoLink] = Field(
        default=None,
        description="old single-link form; still read, as demos: [demo]. The loader moves it into "
        "demos, so a loaded Technique always has demo = None",
    )


class Reference(Strict):
    authors: str = ShortText
    title: str = ShortText
    year: int = Field(ge=1900, le=2100)
    venue: str = ShortText
    kind: Literal["survey", "technique", "application", "metric"]
    arxiv: Optional[str] = Field(default=None, pattern=r"^\d{4}\.\d{4,5}$")
    doi: Optional[str] = Field(default=None, pattern=r"^10\.\d{4,9}/\S+$")
    status: Literal["verified", "partial", "unverified"]
    note: Optional[str] = Field(default=None, max_length=600)


class TaxonomyFile(Strict):
    meta: Meta
    challenges: list[Challenge] = Field(min_length=1)
    families: list[Family] = Field(min_length=1)
    techniques: list[Technique] = Field(min_length=1)
    references: dict[str, Reference] = Field(
        default_factory=dict, description="extra references, beside the bibliography file"
    )


class BibliographyFile(Strict):
    references: dict[str, Reference] = Field(min_length=1)
