"""The tokenizer: byte-level BPE trained with Hugging Face `tokenizers`, saved in HF format.

Every string of `corpusforge.pipeline.special_tokens.ALL_SPECIAL_TOKENS` is one added special token,
so PII placeholders and chat markers are never split or merged into neighbours. The saved directory
loads with `transformers.AutoTokenizer.from_pretrained(dir)` and carries a chat template:

    <|system|>\\n...<|end|>\\n<|user|>\\n...<|end|>\\n<|assistant|>\\n...<|end|>\\n

`add_generation_prompt=True` appends `<|assistant|>\\n`. eos is <|endoftext|>, pad is <|pad|>.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from corpusforge.core.errors import ConfigError, InputError
from corpusforge.pipeline import special_tokens as st

TOKENIZER_JSON = "tokenizer.json"

# The GPT-4 / Llama 3 split: letters with a leading space, digits in groups of at most three,
# punctuation runs, newlines, other whitespace. Bytes are mapped after the split, so every
# input (any script, emoji, control characters) is representable and decodes back exactly.
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

ROLES = {"system": st.SYSTEM, "user": st.USER, "assistant": st.ASSISTANT}
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ '" + st.SYSTEM + "' }}"
    "{%- elif message['role'] == 'user' -%}{{ '" + st.USER + "' }}"
    "{%- elif message['role'] == 'assistant' -%}{{ '" + st.ASSISTANT + "' }}"
    "{%- else -%}{{ raise_exception('unknown chat role: ' + message['role']) }}"
    "{%- endif -%}"
    "{{ '\\n' + message['content'] + '" + st.END_OF_TURN + "' + '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '" + st.ASSISTANT + "\\n' }}{%- endif -%}"
)


def new_bpe_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Train byte-level BPE on `texts` (in order; same texts give the same merges)."""
    tok = new_bpe_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(st.ALL_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_hf_tokenizer(tok: Tokenizer, out_dir: str | Path) -> Path:
    """Save as a Hugging Face tokenizer directory with special tokens and the chat template."""
    from transformers import PreTrainedTokenizerFast

    out = Path(out_dir)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=st.EOT,
        pad_token=st.PAD,
        bos_token=None,
        unk_token=None,
        additional_special_tokens=[t for t in st.ALL_SPECIAL_TOKENS if t not in (st.EOT, st.PAD)],
        chat_template=CHAT_TEMPLATE,
        model_max_length=1 << 30,
        clean_up_tokenization_spaces=False,
    )
    _save_pretrained(hf, out)
    return out


def _save_pretrained(hf: Any, out: Path) -> None:
    """save_pretrained into a fresh directory, then drop run-dependent fields for determinism."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    hf.save_pretrained(str(out))
    config_path = out / "tokenizer_config.json"
    if config_path.exists():
        config = json.loads(config_path.read_text())
        config.pop("name_or_path", None)
        config_path.write_text(
            json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )


def adopt_tokenizer(src_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Use an existing local HF tokenizer: add our special tokens it lacks, keep its template.

    Returns what changed (counts, no text). A tokenizer without an eos token cannot mark
    document ends, so it is refused.
    """
    from transformers import AutoTokenizer

    src = Path(src_dir)
    if not src.is_dir():
        raise InputError(f"{src}: tokenizer directory not found")
    try:
        hf = AutoTokenizer.from_pretrained(str(src), local_files_only=True, trust_remote_code=False)
    except Exception as exc:
        raise InputError(
            f"{src}: not a loadable tokenizer directory ({type(exc).__name__})"
        ) from exc
    if not getattr(hf, "is_fast", False):
        raise InputError(f"{src}: a fast (tokenizer.json) tokenizer is required")
    vocab = hf.get_vocab()
    missing = [t for t in st.ALL_SPECIAL_TOKENS if t not in vocab]
    if missing:
        hf.add_special_tokens({"additional_special_tokens": missing})
    if hf.eos_token is None:
        hf.eos_token = st.EOT
    if hf.pad_token is None:
        hf.pad_token = st.PAD
    if not getattr(hf, "chat_template", None):
        hf.chat_template = CHAT_TEMPLATE
    _save_pretrained(hf, Path(out_dir))
    return {"source_dir": str(src.resolve()), "added_special_tokens": len(missing)}


def load_tokenizer(tokenizer_dir: str | Path) -> Tokenizer:
    path = Path(tokenizer_dir) / TOKENIZER_JSON
    if not path.exists():
        raise InputError(f"{path}: missing (not a fast Hugging Face tokenizer directory)")
    return Tokenizer.from_file(str(path))


def special_ids(tokenizer_dir: str | Path) -> dict[str, int]:
    """eot/pad ids and the vocabulary size of a saved tokenizer directory."""
    config = json.loads((Path(tokenizer_dir) / "tokenizer_config.json").read_text())
    tok = load_tokenizer(tokenizer_dir)
    eos, pad = _token_str(config.get("eos_token")), _token_str(config.get("pad_token"))
    eot_id = tok.token_to_id(eos) if eos else None
    if eot_id is None:
        raise ConfigError(f"{tokenizer_dir}: tokenizer has no eos token to end documents with")
    pad_id = tok.token_to_id(pad) if pad else None
    return {
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "eot_id": eot_id,
        "pad_id": eot_id if pad_id is None else pad_id,
    }


def _token_str(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value


def tokenizer_sha256(tokenizer_dir: str | Path) -> str:
    """One hash over every file of the directory (names and contents, in name order)."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(tokenizer_dir).iterdir() if p.is_file()):
        h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def iter_texts_capped(texts: Iterable[str], max_bytes: int) -> Iterator[str]:
    """Texts in order until `max_bytes` of UTF-8 have been yielded."""
    used = 0
    for text in texts:
        if used >= max_bytes:
            return
        used += len(text.encode("utf-8", "surrogatepass"))
        yield text
