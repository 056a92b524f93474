"""spaCy NER through presidio's NLP engine, loading only what NER needs.

The pipeline is loaded with every component except `ner` excluded (en_core_web_sm's NER has its own
tok2vec, so tagger, parser, lemmatizer and the shared tok2vec are dead weight).
Documents are cut into chunks (corpusforge.pipeline.pii.chunking), run through `nlp.pipe` in
batches, and entity offsets are mapped back to the document. Runs of ALL-CAPS words are title-cased
(same length, so offsets hold) before NER, which otherwise misses shouted names.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import regex as re
import spacy
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from corpusforge.core.errors import ConfigError
from corpusforge.pipeline.pii.chunking import chunk_text
from corpusforge.pipeline.pii.ner_ops import use_fastest_ops
from corpusforge.pipeline.pii.ner_view import ner_view
from corpusforge.pipeline.pii_entities import NER_LABELS

_PACKAGE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_IGNORED_LABELS = (
    "CARDINAL ORDINAL QUANTITY MONEY PERCENT WORK_OF_ART LAW LANGUAGE EVENT PRODUCT NORP NRP"
).split()
_CAPS_RUN = re.compile(r"\b\p{Lu}{2,}(?:[ \t]+(?:\p{Lu}\.|\p{Lu}{2,}))+\b")


class NerOnlySpacyNlpEngine(SpacyNlpEngine):
    """presidio's spaCy engine with only the NER component and no download at run time.

    Its artifacts carry the entities (mapped and filtered by presidio's NerModelConfiguration)
    and the Doc, but no lemmas, token offsets or keywords: only SpacyRecognizer reads them,
    and building those walked every token in Python (a fifth of the full-mode time).
    """

    def load(self) -> None:
        self.nlp = {}
        for model in self.models:
            self.nlp[model["lang_code"]] = load_ner_pipeline(model["model_name"])

    def process_chunks(self, chunks: Sequence[tuple[str, object]], language: str, batch_size: int):
        """(text, artifacts, context) per (text, context). presidio's process_batch rebuilds
        every text from its Doc's tokens, which the caller already has."""
        nlp = self.nlp[language]
        # Every unseen word adds a lexeme and strings to the vocab for good: over a corpus that
        # is memory growing with the corpus. A memory zone frees them when the batch is done
        # (so nothing of a Doc may outlive the loop: callers keep offsets, not spans).
        with nlp.memory_zone():
            docs = nlp.pipe((text for text, _ in chunks), batch_size=batch_size)
            for (text, context), doc in zip(chunks, docs, strict=True):
                yield text, self._doc_to_nlp_artifact(doc, language), context

    def _doc_to_nlp_artifact(self, doc, language: str) -> NlpArtifacts:
        ents = doc.ents  # a property that builds every Span anew: read it once
        default = self.ner_model_configuration.default_score
        entities, scores = self._get_updated_entities(ents, [default] * len(ents))
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[],
            lemmas=[],
            nlp_engine=None,
            language=language,
            scores=scores,
        )


def load_ner_pipeline(model_name: str) -> spacy.Language:
    model_dir = spacy_model_dir(model_name)
    if model_dir is None:
        raise ConfigError(
            f"spaCy model {model_name!r} is not installed; install its package (e.g. "
            f"`pip install {model_name}`) or set spacy_model to an installed model or path, "
            "or use mode 'fast' (patterns only)"
        )
    # Loaded from the model's own directory: spaCy then reads its config and weights and never
    # imports a package by the configured name.
    nlp = spacy.load(model_dir, exclude=_not_needed_for_ner(model_dir))
    if "ner" not in nlp.pipe_names:
        raise ConfigError(f"spaCy model {model_name!r} has no 'ner' component")
    for _, component in nlp.pipeline:  # ner, and the tok2vec it listens to if shared
        if hasattr(component, "model"):
            use_fastest_ops(component.model)
    return nlp


def spacy_model_dir(name: str) -> Path | None:
    """The directory of spaCy model `name` (an installed model package or a model directory),
    found without importing anything; None when `name` is neither.

    A package counts as a spaCy model only when it ships spaCy's `meta.json` and a pipeline
    `config.cfg`, so a config cannot make this load (import) an arbitrary installed package.
    """
    if _PACKAGE_NAME.fullmatch(name):
        spec = importlib.util.find_spec(name)  # a top-level name: located, not imported
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations or not _is_spacy_meta(Path(locations[0]) / "meta.json"):
            return None
        package = Path(locations[0])
        return package if (package / "config.cfg").is_file() else _find_model_dir(package)
    path = Path(name).expanduser()
    if (path / "config.cfg").is_file() and _is_spacy_meta(path / "meta.json"):
        return path.resolve()
    return None


def _is_spacy_meta(path: Path) -> bool:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "spacy_version" in meta


def _not_needed_for_ner(model_dir: Path) -> list[str]:
    """Components NER does not listen to (keep a shared tok2vec only if NER uses it)."""
    config = spacy.util.load_config(model_dir / "config.cfg", interpolate=False)
    pipeline = list(config["nlp"]["pipeline"])
    ner_model = str(config["components"].get("ner", {}).get("model", {}))
    keep = {"ner"}
    if "listener" in ner_model.lower():  # NER reads a shared embedding component
        keep.update(n for n in pipeline if n in ("tok2vec", "transformer"))
    return [name for name in pipeline if name not in keep]


def _find_model_dir(package_path: Path) -> Path | None:
    for child in sorted(package_path.iterdir()):
        if (child / "config.cfg").is_file() and _is_spacy_meta(child / "meta.json"):
            return child
    return None


def titlecase_caps_runs(text: str) -> str:
    """'JOHN SMITH' -> 'John Smith' where the length stays the same (offsets must hold)."""

    def fix(m: re.Match) -> str:
        titled = m.group().title()
        return titled if len(titled) == len(m.group()) else m.group()

    return _CAPS_RUN.sub(fix, text)


_NOT_IN_NAMES = re.compile(r"[\d@/\\_=(){}\[\]<>|#$%^*+]")


_NOT_NAMES = set(
    "cheers thanks regards best hi hello dear tel phone mobile fax email re fwd subject".split()
)


def plausible_name(span: str) -> bool:
    """NER tags hex digests, paths and code as PERSON; names have none of those characters."""
    if span.strip().lower() in _NOT_NAMES:
        return False
    return len(span) <= 60 and len(span.split()) <= 5 and not _NOT_IN_NAMES.search(span)


class NerDetector:
    """Names (and optionally places, organisations, dates) from a spaCy NER model."""

    def __init__(
        self,
        model_name: str,
        entities: Sequence[str],
        language: str = "en",
        batch_size: int = 256,
        max_chunk_chars: int = 4000,
        overlap: int = 200,
    ):
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        self.language = language
        self.entities = list(entities)
        self.batch_size = batch_size
        self.max_chunk_chars = max_chunk_chars
        self.overlap = overlap
        config = NerModelConfiguration(
            model_to_presidio_entity_mapping=dict(NER_LABELS), labels_to_ignore=_IGNORED_LABELS
        )
        self.engine = NerOnlySpacyNlpEngine(
            models=[{"lang_code": language, "model_name": model_name}],
            ner_model_configuration=config,
        )
        self.engine.load()
        self.recognizer = SpacyRecognizer(
            supported_language=language, supported_entities=self.entities
        )

    def analyze_batch(
        self,
        texts: Sequence[str],
        taken: Sequence[Sequence[tuple[int, int]]] | None = None,
    ) -> list[list[RecognizerResult]]:
        """Entities of each text, offsets in the text's own coordinates. `taken`: per text,
        spans other recognizers already detected, which NER need not read (see ner_view)."""
        results: list[list[RecognizerResult]] = [[] for _ in texts]
        views = [ner_view(t, s) for t, s in zip(texts, taken or [()] * len(texts), strict=True)]
        chunks = [
            (titlecase_caps_runs(chunk.text), (i, chunk.start))
            for i, view in enumerate(views)
            for chunk in chunk_text(view.text, self.max_chunk_chars, self.overlap)
        ]
        outputs = self.engine.process_chunks(chunks, self.language, self.batch_size)
        for chunk_text_, artifacts, (doc_index, offset) in outputs:
            view = views[doc_index]
            for r in self.recognizer.analyze(chunk_text_, self.entities, artifacts):
                if r.entity_type == "PERSON" and not plausible_name(chunk_text_[r.start : r.end]):
                    continue
                span = view.span_to_text(r.start + offset, r.end + offset)
                if span is not None:
                    results[doc_index].append(RecognizerResult(r.entity_type, *span, r.score))
        return results
