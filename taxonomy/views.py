"""Views of a :class:`~taxonomy.load.Taxonomy` for the explorer: filters, search, URL state,
tables, BibTeX / CSV export and Plotly figures.

Pure functions of their arguments; nothing here imports Streamlit, so everything is unit-tested
in ``tests/test_views.py`` and the pages stay thin.

Views
    The explorer has three views, named in the URL as ``?view=``: ``map`` (the sunburst, the
    default), ``lineage`` (the ``builds_on`` graph, techniques placed by year and family) and
    ``compare`` (two to four techniques side by side, ``?compare=a,b``).

Node keys
    A node of the tree is named in the URL (``?node=...``) and in the explorer's selectbox by a
    *node key*: a technique id (``pacgan``), a challenge id (``mode_collapse``) or a family id
    (``loss``). Ids are unique within a kind but a challenge and a technique could share one; the
    bare id then means the technique (then challenge, then family) and the others are written
    with a prefix (``challenge:mode_collapse``, ``family:loss``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Optional, Sequence
from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go

from .load import Taxonomy
from .schema import MODALITIES, Reference, Technique

KINDS = ("technique", "challenge", "family")
MAX_QUERY_LEN = 200
VIEWS = ("map", "lineage", "compare")
VIEW_LABELS = {"map": "Sunburst map", "lineage": "Lineage", "compare": "Compare"}
MAX_COMPARE = 4
# status flags in Streamlit Markdown (Material icons render without an emoji font)
STATUS_FLAGS = {
    "verified": "",
    "partial": ":material/warning: partial",
    "unverified": ":material/help: unverified",
}

# ---------------------------------------------------------------------------------------------
# Filters and search


@dataclass(frozen=True)
class Filters:
    """What the explorer shows. Empty tuples mean "no restriction"; ``years`` is inclusive."""

    q: str = ""
    challenges: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    years: Optional[tuple[int, int]] = None

    def is_empty(self) -> bool:
        return self == Filters()


def year_bounds(tax: Taxonomy) -> tuple[int, int]:
    years = [t.year for t in tax.techniques.values()]
    return min(years), max(years)


def matches_query(t: Technique, q: str) -> bool:
    """Case-insensitive search over a technique's id, name and summary: every word must occur."""
    words = q.lower().split()
    if not words:
        return True
    text = f"{t.id} {t.id.replace('_', ' ')} {t.name} {t.summary}".lower()
    return all(w in text for w in words)


def search(tax: Taxonomy, q: str) -> list[Technique]:
    return [t for t in tax.techniques.values() if matches_query(t, q)]


def filter_techniques(tax: Taxonomy, f: Filters) -> list[Technique]:
    """Techniques passing every filter, in file order.

    challenge: the technique addresses any selected challenge (all of ``challenges``, not only the
    primary one); family: its family is selected; modality: it has a biomedical use in any
    selected modality; years: the year of its primary paper lies in the range.
    """
    out = []
    for t in tax.techniques.values():
        if f.challenges and not set(t.challenges) & set(f.challenges):
            continue
        if f.families and t.family not in f.families:
            continue
        if f.modalities and not any(u.modality in f.modalities for u in t.biomedical_uses):
            continue
        if f.years and not (f.years[0] <= t.year <= f.years[1]):
            continue
        if f.q and not matches_query(t, f.q):
            continue
        out.append(t)
    return out


# ---------------------------------------------------------------------------------------------
# Nodes


@dataclass(frozen=True)
class Node:
    kind: str  # technique | challenge | family
    id: str


def resolve_node(tax: Taxonomy, key: str) -> Optional[Node]:
    """Node named by a node key (see the module docstring), or None if there is none."""
    key = (key or "").strip()
    if ":" in key:
        kind, _, ident = key.partition(":")
        table = {"technique": tax.techniques, "challenge": tax.challenges, "family": tax.families}.get(kind)
        return Node(kind, ident) if table is not None and ident in table else None
    if key in tax.techniques:
        return Node("technique", key)
    if key in tax.challenges:
        return Node("challenge", key)
    if key in tax.families:
        return Node("family", key)
    return None


def node_key(tax: Taxonomy, node: Node) -> str:
    """Shortest key that resolves to ``node``: the bare id unless another kind owns it."""
    return node.id if resolve_node(tax, node.id) == node else f"{node.kind}:{node.id}"


def node_options(tax: Taxonomy) -> list[str]:
    """Keys of every node, for the selectbox: techniques by name, then challenges, then families."""
    techs = sorted(tax.techniques.values(), key=lambda t: t.name.lower())
    return (
        [node_key(tax, Node("technique", t.id)) for t in techs]
        + [node_key(tax, Node("challenge", c)) for c in tax.challenges]
        + [node_key(tax, Node("family", f)) for f in tax.families]
    )


def node_label(tax: Taxonomy, key: str) -> str:
    node = resolve_node(tax, key)
    if node is None:
        return key
    if node.kind == "technique":
        t = tax.techniques[node.id]
        return f"{t.name} ({t.year})"
    if node.kind == "challenge":
        return f"Challenge: {tax.challenges[node.id].name}"
    return f"Solution family: {tax.families[node.id].name}"


def node_from_sunburst_id(tax: Taxonomy, sid: str) -> Optional[str]:
    """Map a sunburst sector id (``challenge``, ``challenge/family``, ``challenge/family/technique``)
    to a node key."""
    parts = (sid or "").split("/")
    kind = {1: "challenge", 2: "family", 3: "technique"}.get(len(parts))
    if kind is None:
        return None
    node = Node(kind, parts[-1])
    table = {"technique": tax.techniques, "challenge": tax.challenges, "family": tax.families}[kind]
    return node_key(tax, node) if node.id in table else None


def related(tax: Taxonomy, t: Technique) -> list[Technique]:
    """Techniques that build on ``t`` (the reverse of ``builds_on``)."""
    return [o for o in tax.techniques.values() if t.id in o.builds_on]


def group_members(tax: Taxonomy, node: Node) -> list[Technique]:
    """The techniques beneath a challenge (every technique that addresses it) or a family (every
    technique in it), by year then name."""
    if node.kind == "challenge":
        members = [t for t in tax.techniques.values() if node.id in t.challenges]
    elif node.kind == "family":
        members = [t for t in tax.techniques.values() if t.family == node.id]
    else:
        members = [tax.techniques[node.id]] if node.id in tax.techniques else []
    return sorted(members, key=lambda t: (t.year, t.name.lower()))


@dataclass(frozen=True)
class DemoRef:
    """One live demo variant and the techniques that link it."""

    demo: str
    variant: str
    techniques: tuple[str, ...]


def demos_under(techniques: Iterable[Technique], order: Sequence[str] = ()) -> list[DemoRef]:
    """The demo variants linked by ``techniques``, each once with the techniques that link it.
    Demos come in ``order`` (the catalogue's), unknown ones after it; variants in first-seen order."""
    links: dict[tuple[str, str], list[str]] = {}
    for t in techniques:
        for d in t.demos:
            ids = links.setdefault((d.id, d.variant), [])
            if t.id not in ids:
                ids.append(t.id)
    rank = {demo: i for i, demo in enumerate(order)}
    keys = sorted(links, key=lambda k: rank.get(k[0], len(rank)))  # stable: first-seen within a demo
    return [DemoRef(demo, variant, tuple(links[(demo, variant)])) for demo, variant in keys]


# ---------------------------------------------------------------------------------------------
# URL state


@dataclass(frozen=True)
class UrlState:
    filters: Filters = Filters()
    node: Optional[str] = None  # a valid node key
    unknown_node: Optional[str] = None  # the raw ?node= value when it names nothing
    notices: tuple[str, ...] = field(default_factory=tuple)
    view: str = "map"  # one of VIEWS
    compare: tuple[str, ...] = ()  # technique ids, at most MAX_COMPARE


def _values(params: Mapping[str, object], name: str) -> list[str]:
    """All values of a query parameter: repeated keys and comma-separated lists both work."""
    raw = params.get(name)
    if raw is None:
        return []
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    out: list[str] = []
    for item in items:
        out += [v.strip() for v in str(item).split(",") if v.strip()]
    return out


def shown(value: str, limit: int = 40) -> str:
    """A user-supplied value made safe to quote in a message: printable, short, no backticks."""
    value = "".join(ch for ch in str(value) if ch.isprintable()).replace("`", "'")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _one(params: Mapping[str, object], name: str) -> Optional[str]:
    raw = params.get(name)
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else None
    return None if raw is None else str(raw)


def parse_years(text: str, bounds: tuple[int, int]) -> Optional[tuple[int, int]]:
    """``2014-2020``, ``2014..2020`` or ``2018`` -> an inclusive range clamped to ``bounds``;
    None if unparsable or outside the bounds altogether."""
    m = re.fullmatch(r"\s*(\d{4})\s*(?:(?:-|–|\.\.|:|,)\s*(\d{4}))?\s*", text or "")
    if not m:
        return None
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if lo > hi:
        lo, hi = hi, lo
    if hi < bounds[0] or lo > bounds[1]:
        return None
    return max(lo, bounds[0]), min(hi, bounds[1])


def parse_query(tax: Taxonomy, params: Mapping[str, object]) -> UrlState:
    """Read the explorer's state from query parameters. Unknown values never raise: they are
    dropped and described in ``notices`` (Markdown; the values from the URL are quoted in code
    spans, so they are shown literally) or ``unknown_node`` for the node."""
    notices: list[str] = []

    def pick(name: str, valid: Sequence[str], what: str, normalise=lambda v: v) -> tuple[str, ...]:
        keep, bad = [], []
        lookup = {normalise(v): v for v in valid}
        for v in _values(params, name):
            hit = lookup.get(normalise(v))
            if hit is None:
                bad.append(v)
            elif hit not in keep:
                keep.append(hit)
        if bad:
            expected = (f"expected one of: {', '.join(f'`{x}`' for x in valid)}" if len(valid) <= 12
                        else "expected technique ids such as " + ", ".join(f"`{x}`" for x in valid[:3]))
            notices.append(
                f"Ignored unknown {what} {', '.join(f'`{shown(b)}`' for b in bad[:5])} in the link; "
                f"{expected}."
            )
        return tuple(keep)

    challenges = pick("challenge", list(tax.challenges), "challenge")
    families = pick("family", list(tax.families), "family")
    modalities = pick("modality", list(MODALITIES), "modality", normalise=str.lower)

    years = None
    raw_years = params.get("years")
    if raw_years:
        vals = _values(params, "years")
        text = "-".join(vals) if len(vals) == 2 else (vals[0] if len(vals) == 1 else "")
        bounds = year_bounds(tax)
        years = parse_years(text, bounds)
        if years is None:
            notices.append(
                f"Ignored the year range `{shown(','.join(vals))}` in the link; expected e.g. "
                f"`years={bounds[0]}-{bounds[1]}`."
            )
        elif years == bounds:
            years = None

    q = (_one(params, "q") or "").strip()
    if len(q) > MAX_QUERY_LEN:
        q = q[:MAX_QUERY_LEN]
        notices.append(f"The search text in the link was cut to {MAX_QUERY_LEN} characters.")

    node = unknown = None
    raw_node = (_one(params, "node") or "").strip()
    if raw_node:
        found = resolve_node(tax, raw_node)
        if found is None:
            unknown = raw_node
        else:
            node = node_key(tax, found)

    view = (_one(params, "view") or "map").strip().lower() or "map"
    if view not in VIEWS:
        notices.append(f"Ignored the view `{shown(view)}` in the link; expected one of: "
                       + ", ".join(f"`{x}`" for x in VIEWS) + ".")
        view = "map"
    compare = pick("compare", list(tax.techniques), "technique to compare")
    if len(compare) > MAX_COMPARE:
        notices.append(f"Only {MAX_COMPARE} techniques can be compared at once; kept the first {MAX_COMPARE}.")
        compare = compare[:MAX_COMPARE]
    return UrlState(Filters(q, challenges, families, modalities, years), node, unknown, tuple(notices),
                    view, compare)


def to_query(tax: Taxonomy, f: Filters, node: Optional[str], view: str = "map",
             compare: Sequence[str] = ()) -> dict[str, object]:
    """Canonical query parameters for a view (defaults are left out, so the plain URL means
    "the sunburst, everything, nothing selected")."""
    out: dict[str, object] = {}
    if view and view != "map":
        out["view"] = view
    if compare:
        out["compare"] = list(compare)
    if node:
        out["node"] = node
    if f.challenges:
        out["challenge"] = list(f.challenges)
    if f.families:
        out["family"] = list(f.families)
    if f.modalities:
        out["modality"] = list(f.modalities)
    if f.years and f.years != year_bounds(tax):
        out["years"] = f"{f.years[0]}-{f.years[1]}"
    if f.q:
        out["q"] = f.q
    return out


# ---------------------------------------------------------------------------------------------
# References

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~$])")


def md_escape(text: str) -> str:
    """Escape Markdown (and ``$`` maths) so YAML text is shown literally inside composed Markdown."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def arxiv_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{quote(arxiv_id, safe='.')}"


def doi_url(doi: str) -> str:
    # quote() keeps DOIs readable but encodes ( ) < > and spaces, so no DOI breaks a Markdown link
    return f"https://doi.org/{quote(doi, safe='/.:;-_')}"


def reference_links(ref: Reference) -> list[tuple[str, str]]:
    links = []
    if ref.arxiv:
        links.append((f"arXiv:{ref.arxiv}", arxiv_url(ref.arxiv)))
    if ref.doi:
        links.append((f"DOI:{ref.doi}", doi_url(ref.doi)))
    return links


def reference_url(ref: Reference) -> Optional[str]:
    """Best single link: the DOI (the published version) if any, else arXiv."""
    if ref.doi:
        return doi_url(ref.doi)
    if ref.arxiv:
        return arxiv_url(ref.arxiv)
    return None


def reference_markdown(key: str, ref: Reference) -> str:
    """One reference as safe Markdown: escaped text, links to arXiv / DOI, a status flag."""
    text = f"{md_escape(ref.authors)} ({ref.year}). *{md_escape(ref.title)}*. {md_escape(ref.venue)}."
    links = " · ".join(f"[{md_escape(label)}]({url})" for label, url in reference_links(ref))
    flag = STATUS_FLAGS.get(ref.status, "")
    parts = [text]
    if links:
        parts.append(links)
    else:
        parts.append("(no arXiv id or DOI on record)")
    if flag:
        parts.append(f"**{flag}**" + (f": {md_escape(ref.note)}" if ref.note else ""))
    return " ".join(parts) + f" `{shown(key, 80)}`"


# ---------------------------------------------------------------------------------------------
# Tables

TECHNIQUE_COLUMNS = [
    "id", "name", "family", "primary_challenge", "challenges", "year", "reference",
    "reference_status", "biomedical_uses", "modalities", "demo", "summary",
]
PAPER_COLUMNS = [
    "technique", "technique_id", "citation_key", "title", "authors", "year", "venue", "modality",
    "task", "status", "link",
]


def techniques_frame(tax: Taxonomy, techniques: Iterable[Technique]) -> pd.DataFrame:
    """One row per technique; this frame is also the CSV export."""
    rows = []
    for t in techniques:
        ref = tax.references[t.reference]
        rows.append({
            "id": t.id,
            "name": t.name,
            "family": tax.families[t.family].name,
            "primary_challenge": tax.challenges[t.primary_challenge].name,
            "challenges": "; ".join(tax.challenges[c].name for c in t.challenges),
            "year": t.year,
            "reference": t.reference,
            "reference_status": ref.status,
            "biomedical_uses": len(t.biomedical_uses),
            "modalities": "; ".join(sorted({u.modality for u in t.biomedical_uses})),
            "demo": "; ".join(f"{d.id}:{d.variant}" for d in t.demos),
            "summary": t.summary,
        })
    return pd.DataFrame(rows, columns=TECHNIQUE_COLUMNS)


def papers_frame(tax: Taxonomy, techniques: Iterable[Technique], f: Filters = Filters()) -> pd.DataFrame:
    """Biomedical uses of the given techniques (restricted to the selected modalities), one row
    per (technique, paper, modality)."""
    rows = []
    for t in techniques:
        for u in t.biomedical_uses:
            if f.modalities and u.modality not in f.modalities:
                continue
            ref = tax.references[u.ref]
            rows.append({
                "technique": t.name,
                "technique_id": t.id,
                "citation_key": u.ref,
                "title": ref.title,
                "authors": ref.authors,
                "year": ref.year,
                "venue": ref.venue,
                "modality": u.modality,
                "task": u.task,
                "status": ref.status,
                "link": reference_url(ref),
            })
    return pd.DataFrame(rows, columns=PAPER_COLUMNS)


def to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# BibTeX

_BIB_TEXT = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "$": r"\$",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_PROCEEDINGS = re.compile(
    r"\b(proceedings|proc\.|conference|workshop|symposium|neurips|nips|icml|iclr|cvpr|iccv|eccv|"
    r"miccai|aaai|ijcai|wacv|bmvc|isbi|midl|aistats|uai|colt|kdd)\b",
    re.IGNORECASE,
)
_PREPRINT = re.compile(r"\b(arxiv|preprint|biorxiv|medrxiv|techn?ical report|thesis)\b", re.IGNORECASE)


def bib_escape(text: str) -> str:
    """Escape a text field for BibTeX/LaTeX: braces (which would unbalance the entry) and the
    LaTeX specials, in one pass so no escape is escaped twice."""
    return "".join(_BIB_TEXT.get(ch, ch) for ch in text)


def bib_verbatim(text: str) -> str:
    """Escape a verbatim field (DOI, eprint): only braces and backslashes matter there."""
    return text.replace("\\", "").replace("{", r"\{").replace("}", r"\}")


def bib_key(key: str) -> str:
    """Citation key made legal in BibTeX (keys of the shipped files are already legal)."""
    return re.sub(r"[^A-Za-z0-9_:.\-+/]", "_", key) or "ref"


def entry_type(ref: Reference) -> str:
    venue = ref.venue
    if _PREPRINT.search(venue) and not ref.doi:
        return "misc"
    if _PROCEEDINGS.search(venue):
        return "inproceedings"
    if _PREPRINT.search(venue):
        return "misc"
    return "article"


def bibtex_entry(key: str, ref: Reference) -> str:
    kind = entry_type(ref)
    fields: list[tuple[str, str]] = [
        ("author", bib_escape(ref.authors)),
        ("title", bib_escape(ref.title)),
        ("year", str(ref.year)),
    ]
    venue = bib_escape(ref.venue)
    fields.append(({"article": "journal", "inproceedings": "booktitle", "misc": "howpublished"}[kind], venue))
    if ref.doi:
        fields.append(("doi", bib_verbatim(ref.doi)))
    if ref.arxiv:
        fields += [("eprint", bib_verbatim(ref.arxiv)), ("archiveprefix", "arXiv")]
        if kind == "misc":
            fields.append(("url", arxiv_url(ref.arxiv)))
    if ref.status != "verified":
        note = f"GAN Clinic: reference {ref.status}" + (f" ({ref.note})" if ref.note else "")
        fields.append(("note", bib_escape(note)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{bib_key(key)},\n{body}\n}}\n"


def bibtex(tax: Taxonomy, keys: Iterable[str]) -> str:
    """BibTeX for the given citation keys (unknown keys skipped, duplicates once, order kept)."""
    keys = [k for k in dict.fromkeys(keys) if k in tax.references]
    return "\n".join(bibtex_entry(k, tax.references[k]) for k in keys)


def cited_keys(tax: Taxonomy, techniques: Iterable[Technique], with_survey: bool = True) -> list[str]:
    """Citation keys of a set of techniques (primary papers, further reading, biomedical uses),
    led by the survey the taxonomy follows."""
    keys = [tax.meta.survey] if with_survey else []
    for t in techniques:
        keys += tax.cited_keys(t)
    return list(dict.fromkeys(keys))


# ---------------------------------------------------------------------------------------------
# Figures

FONT = dict(family="Source Sans Pro, sans-serif")
# one hue per challenge (families and techniques get lighter shades of it)
CHALLENGE_COLOURS = ["#3a6ea5", "#d1495b", "#2e9e6b", "#8e6bbf", "#e0a100", "#4f9fb8"]


def sunburst_figure(tax: Taxonomy, techniques: Iterable[Technique]) -> go.Figure:
    """Challenge -> family -> technique, each technique at its primary home. Every challenge is a
    ring sector even without techniques; a family appears under a challenge only when it holds one.
    Sector ids are ``challenge``, ``challenge/family`` and ``challenge/family/technique``."""
    ids, labels, parents, hover, colours = [], [], [], [], []
    techniques = list(techniques)
    names: list[str] = []  # full names for the hover; labels are wrapped or shortened
    base = {c: CHALLENGE_COLOURS[i % len(CHALLENGE_COLOURS)] for i, c in enumerate(tax.challenges)}
    for c in tax.challenges.values():
        ids.append(c.id)
        labels.append(label_lines(c.name, 12))
        names.append(c.name)
        parents.append("")
        hover.append(c.summary)
        colours.append(base[c.id])
    for fam in tax.families.values():
        for c in tax.challenges:
            if any(t.primary_challenge == c and t.family == fam.id for t in techniques):
                ids.append(f"{c}/{fam.id}")
                labels.append(label_lines(fam.name, 14))
                names.append(fam.name)
                parents.append(c)
                hover.append(fam.summary)
                colours.append(_lighten(base[c], 0.3))
    for t in techniques:
        ids.append(tax.node_id(t))
        labels.append(short_name(t.name))
        names.append(t.name)
        parents.append(f"{t.primary_challenge}/{t.family}")
        hover.append(f"{t.year} · {t.summary}")
        colours.append(_lighten(base[t.primary_challenge], 0.55))
    fig = go.Figure(
        go.Sunburst(
            ids=ids,
            labels=labels,
            parents=parents,
            customdata=[[_wrap(n, 60, 120), _wrap(h, 60, 240)] for n, h in zip(names, hover)],
            hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}<extra></extra>",
            insidetextorientation="auto",
            marker=dict(colors=colours, line=dict(color="white", width=1)),
            maxdepth=3,
        )
    )
    fig.update_layout(
        margin=dict(t=4, l=4, r=4, b=4), height=SUNBURST_HEIGHT, uirevision="sunburst", font=FONT,
        # a label that would be drawn smaller than this is hidden instead (hover and click still work)
        uniformtext=dict(minsize=SUNBURST_MIN_FONT, mode="hide"),
    )
    return fig


SUNBURST_HEIGHT = 540
SUNBURST_MIN_FONT = 10


def label_lines(text: str, width: int) -> str:
    """A chart label wrapped onto lines of about ``width`` characters, breaking at spaces and
    after hyphens (``Non-convergence`` -> ``Non-<br>convergence``), so a long word does not force
    the label to a tiny font. Escaped like hover text."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    tokens = [tok for tok in re.split(r"(?<=-)(?=\w)|\s+", text) if tok]
    lines, line = [], ""
    for tok in tokens:
        glue = "" if line.endswith("-") else " "
        if line and len(line) + len(glue) + len(tok) > width:
            lines.append(line)
            line = tok
        else:
            line = f"{line}{glue}{tok}" if line else tok
    lines.append(line)
    return "<br>".join(lines)


def short_name(name: str, width: int = 14, max_lines: int = 2) -> str:
    """A short label for a crowded chart: the acronym in trailing brackets when there is one
    (``Packing (PacGAN)`` -> ``PacGAN``), else the name wrapped onto at most ``max_lines`` lines."""
    m = re.fullmatch(r"(.+?)\s*\(([^()]{1,14})\)", name.strip())
    if m:
        return label_lines(m.group(2), width)
    lines = [line if len(line) <= width else line[: width - 1] + "…"
             for line in label_lines(name, width).split("<br>")]
    return "<br>".join(lines[:max_lines]) + ("…" if len(lines) > max_lines and not lines[max_lines - 1].endswith("…")
                                              else "")


def _lighten(colour: str, amount: float) -> str:
    """Mix a ``#rrggbb`` colour with white (0 = unchanged, 1 = white)."""
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in rgb)


def _wrap(text: str, width: int, limit: int) -> str:
    """Shorten and wrap hover text (Plotly hover labels are HTML-ish: escape < > &)."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "<br>".join(lines)


def challenge_family_counts(tax: Taxonomy, techniques: Iterable[Technique]) -> pd.DataFrame:
    """Techniques per (challenge, family), counting every challenge a technique addresses."""
    table = pd.DataFrame(0, index=list(tax.challenges), columns=list(tax.families), dtype=int)
    for t in techniques:
        for c in t.challenges:
            table.loc[c, t.family] += 1
    return table


def challenge_family_figure(tax: Taxonomy, techniques: Iterable[Technique]) -> go.Figure:
    table = challenge_family_counts(tax, techniques)
    fig = go.Figure(
        go.Heatmap(
            z=table.values,
            x=[_wrap(tax.families[f].name, 18, 80) for f in table.columns],
            y=[tax.challenges[c].name for c in table.index],
            colorscale="Blues",
            texttemplate="%{z}",
            hovertemplate="%{y}<br>%{x}<br>%{z} techniques<extra></extra>",
            showscale=False,
        )
    )
    fig.update_layout(
        title="Techniques per challenge and family (all challenges a technique addresses)",
        margin=dict(t=110, l=8, r=8, b=8), height=310, font=FONT,
        yaxis=dict(autorange="reversed"), xaxis=dict(tickangle=0, side="top"),
    )
    return fig


def modality_counts(papers: pd.DataFrame) -> pd.Series:
    """Distinct biomedical papers per modality, largest first."""
    if papers.empty:
        return pd.Series(dtype=int)
    return papers.drop_duplicates(["citation_key", "modality"]).groupby("modality").size().sort_values(
        ascending=False
    )


def modality_figure(papers: pd.DataFrame) -> go.Figure:
    counts = modality_counts(papers)
    fig = go.Figure(go.Bar(x=list(counts.index), y=list(counts.values), marker_color=CHALLENGE_COLOURS[0],
                           hovertemplate="%{x}: %{y} papers<extra></extra>"))
    fig.update_layout(
        title="Biomedical papers per imaging modality", margin=dict(t=48, l=8, r=8, b=8), height=320,
        yaxis=dict(title="papers", dtick=1), font=FONT,
    )
    return fig


def timeline_figure(tax: Taxonomy, techniques: Iterable[Technique]) -> go.Figure:
    """Techniques per year of their primary paper, stacked by primary challenge (same colours as
    the sunburst); hovering a bar lists its techniques."""
    techniques = sorted(techniques, key=lambda t: (t.year, t.name))
    years = sorted({t.year for t in techniques})
    fig = go.Figure()
    for i, c in enumerate(tax.challenges.values()):
        names = {y: [t.name for t in techniques if t.year == y and t.primary_challenge == c.id] for y in years}
        if not any(names.values()):
            continue
        fig.add_trace(go.Bar(
            x=years, y=[len(names[y]) for y in years], name=c.name,
            marker_color=CHALLENGE_COLOURS[i % len(CHALLENGE_COLOURS)],
            customdata=["<br>".join(_wrap(n, 60, 80) for n in names[y]) for y in years],
            hovertemplate="%{x}: %{y}<br>%{customdata}<extra>" + _wrap(c.name, 40, 60) + "</extra>",
        ))
    fig.update_layout(
        title="Techniques per year of the primary paper", barmode="stack",
        margin=dict(t=48, l=8, r=8, b=8), height=360, font=FONT,
        xaxis=dict(dtick=1, tickangle=0), yaxis=dict(title="techniques"),
        legend=dict(orientation="h", y=-0.15),
    )
    return fig


def with_filters(f: Filters, **changes) -> Filters:
    return replace(f, **changes)


# ---------------------------------------------------------------------------------------------
# Equations


def equation_lines(equation: Optional[str]) -> list[str]:
    """Split a long equation at its top-level ``\\qquad`` separators (outside braces), so each
    part can be typeset on its own line instead of running off the card. A comma before the
    separator stays at the end of its line."""
    if not equation:
        return []
    parts, depth, start, i = [], 0, 0, 0
    while i < len(equation):
        ch = equation[i]
        if ch == "\\" and equation.startswith("\\qquad", i) and depth == 0 and not equation[i + 6:i + 7].isalpha():
            parts.append(equation[start:i])
            i += 6
            start = i
            continue
        if ch == "\\":  # skip an escaped character such as \{ or \,
            i += 2
            continue
        depth += ch == "{"
        depth -= ch == "}"
        i += 1
    parts.append(equation[start:])
    lines = [p.strip().removesuffix("\\,").strip() for p in parts]
    return [line for line in lines if line]


# ---------------------------------------------------------------------------------------------
# Lineage: the builds_on graph, techniques placed by year (x) and family (lanes)

FAMILY_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d"]
LINEAGE_MIN_HEIGHT = 420


def family_colours(tax: Taxonomy) -> dict[str, str]:
    return {f: FAMILY_COLOURS[i % len(FAMILY_COLOURS)] for i, f in enumerate(tax.families)}


def lineage_edges(techniques: Iterable[Technique]) -> list[tuple[str, str]]:
    """(ancestor, descendant) pairs of ``builds_on`` among the given techniques only."""
    techniques = list(techniques)
    shown_ids = {t.id for t in techniques}
    return [(b, t.id) for t in techniques for b in t.builds_on if b in shown_ids]


LANE_GAP = 1.5  # empty slots between two family lanes
SLOT_PX = 19  # figure pixels per slot, so stacked labels do not overlap


def lineage_lanes(tax: Taxonomy, techniques: Iterable[Technique]) -> dict[str, tuple[float, int]]:
    """Each family's lane: (centre y, height in slots). A lane is as tall as the family's busiest
    year; the first family is on top and lanes are ``LANE_GAP`` slots apart."""
    count: dict[tuple[str, int], int] = {}
    for t in techniques:
        count[(t.family, t.year)] = count.get((t.family, t.year), 0) + 1
    lanes, top = {}, 0.0
    for f in tax.families:
        cap = max([n for (fam, _), n in count.items() if fam == f] or [1])
        lanes[f] = (top - (cap - 1) / 2, cap)
        top -= cap - 1 + 1 + LANE_GAP
    return lanes


def lineage_layout(tax: Taxonomy, techniques: Iterable[Technique]) -> dict[str, tuple[float, float]]:
    """Position of each technique: x = the year of its primary paper, y = a slot in its family's
    lane. Techniques sharing a family and a year are stacked one slot apart around the lane's
    centre, in name order, so no two nodes (or their one-line labels) coincide."""
    techniques = list(techniques)
    lanes = lineage_lanes(tax, techniques)
    cells: dict[tuple[str, int], list[Technique]] = {}
    for t in techniques:
        cells.setdefault((t.family, t.year), []).append(t)
    pos: dict[str, tuple[float, float]] = {}
    for (fam, year), members in cells.items():
        members.sort(key=lambda t: t.name.lower())
        centre, n = lanes[fam][0], len(members)
        for i, t in enumerate(members):
            pos[t.id] = (float(year), centre + (n - 1) / 2 - i)
    return pos


def lineage_figure(tax: Taxonomy, techniques: Iterable[Technique], selected: Optional[str] = None) -> go.Figure:
    """The ``builds_on`` graph: an arrow runs from each technique to every technique that builds
    on it; nodes are coloured by family and carry their technique id as ``customdata`` (a click
    selects the technique). Edges touching ``selected`` are drawn darker."""
    techniques = list(techniques)
    pos = lineage_layout(tax, techniques)
    lanes = lineage_lanes(tax, techniques)
    colours = family_colours(tax)
    fig = go.Figure()
    for a, b in lineage_edges(techniques):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        hot = selected in (a, b)
        fig.add_annotation(
            x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
            showarrow=True, arrowhead=2, arrowsize=1.1, arrowwidth=2.2 if hot else 1.1,
            arrowcolor="#333333" if hot else "#b0b0b0", standoff=7, startstandoff=7,
        )
    for fam_id, fam in tax.families.items():
        members = [t for t in techniques if t.family == fam_id]
        if not members:
            continue
        fig.add_trace(go.Scatter(
            x=[pos[t.id][0] for t in members],
            y=[pos[t.id][1] for t in members],
            mode="markers+text",
            name=label_lines(fam.name, 200),  # escaped: legend text is HTML-ish
            text=[short_name(t.name, 12, 1) for t in members],
            textposition="middle right",
            textfont=dict(size=10),
            customdata=[t.id for t in members],
            hovertext=[f"<b>{_wrap(t.name, 60, 120)}</b> ({t.year})<br>{_wrap(t.summary, 60, 240)}" for t in members],
            hovertemplate="%{hovertext}<extra></extra>",
            marker=dict(
                color=colours[fam_id],
                size=[17 if t.id == selected else 11 for t in members],
                line=dict(color=["#111111" if t.id == selected else "white" for t in members], width=2),
            ),
        ))
    years = [t.year for t in techniques] or [2014]
    top = max(c + (n - 1) / 2 for c, n in lanes.values()) + 0.8
    bottom = min(c - (n - 1) / 2 for c, n in lanes.values()) - 0.8
    fig.update_layout(
        height=max(LINEAGE_MIN_HEIGHT, int((top - bottom) * SLOT_PX) + 140),
        margin=dict(t=30, l=8, r=8, b=8), font=FONT, uirevision="lineage",
        clickmode="event+select", dragmode="pan", showlegend=True,
        legend=dict(orientation="h", y=1.04, x=0, title_text="Family: "),
        xaxis=dict(range=[min(years) - 0.6, max(years) + 1.4], dtick=1, tickangle=0, title="year of the primary paper",
                   showgrid=True, zeroline=False),
        yaxis=dict(tickvals=[lanes[f][0] for f in tax.families],
                   ticktext=[label_lines(f.name, 14) for f in tax.families.values()],
                   range=[bottom, top], showgrid=False, zeroline=False, fixedrange=True),
    )
    return fig


def node_from_lineage_point(tax: Taxonomy, point: Mapping[str, object]) -> Optional[str]:
    """The node key of a clicked lineage node (its ``customdata`` is the technique id)."""
    data = point.get("customdata")
    if isinstance(data, (list, tuple)):
        data = data[0] if data else None
    if not isinstance(data, str) or data not in tax.techniques:
        return None
    return node_key(tax, Node("technique", data))


# ---------------------------------------------------------------------------------------------
# Compare

COMPARE_FIELDS = ["name", "family", "primary_challenge", "challenges", "year", "summary", "mechanism",
                  "equation", "reference", "demos"]


def compare_frame(tax: Taxonomy, ids: Sequence[str]) -> pd.DataFrame:
    """Techniques side by side: one column per technique (by name), one row per field; this frame
    is also the comparison's CSV export."""
    cols = {}
    for tid in ids:
        t = tax.techniques[tid]
        ref = tax.references[t.reference]
        cols[t.name] = {
            "name": t.name,
            "family": tax.families[t.family].name,
            "primary_challenge": tax.challenges[t.primary_challenge].name,
            "challenges": "; ".join(tax.challenges[c].name for c in t.challenges),
            "year": str(t.year),
            "summary": t.summary,
            "mechanism": t.mechanism,
            "equation": t.equation or "",
            "reference": f"{ref.authors} ({ref.year}). {ref.title}. {ref.venue}.",
            "demos": "; ".join(f"{d.id}:{d.variant}" for d in t.demos),
        }
    return pd.DataFrame(cols, index=COMPARE_FIELDS, columns=list(cols))


def shipped_result_line(name: str, result: Mapping[str, object], variant: str, metrics: int = 3) -> Optional[str]:
    """One line for a variant of a shipped demo result (``pretrained/<demo>_<name>.json``):
    its first few mean metrics and the number of seeds, or None when the result lacks it.
    Figures only, no claim: a claim needs the demo's own criterion."""
    variants = result.get("variants")
    if not isinstance(variants, Mapping) or variant not in variants:
        return None
    entry = variants[variant]
    mean = entry.get("mean") if isinstance(entry, Mapping) else None
    per_seed = entry.get("per_seed") if isinstance(entry, Mapping) else None
    if not isinstance(mean, Mapping) or not isinstance(per_seed, list):
        return None
    numbers = [(k, x) for k, x in mean.items() if isinstance(x, (int, float)) and not isinstance(x, bool)]
    parts = [f"{key.replace('_', ' ')} {value:.3g}" for key, value in numbers[:metrics]]
    if not parts:
        return None
    return f"{name}: " + ", ".join(parts) + f" (mean over {len(per_seed)} seeds)"
