"""The sales pipeline: ordered stages. The stage-rules feature adds evidence and dwell limits."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process

from core.errors import InvalidInput


@dataclass(frozen=True)
class Stage:
    key: str
    name: str
    terminal: bool = False


DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage("lead", "线索"),
    Stage("qualified", "初步接触"),
    Stage("needs_confirmed", "需求确认"),
    Stage("demo", "方案演示"),
    Stage("quote", "报价"),
    Stage("contract_review", "合同评审"),
    Stage("won", "已签约", terminal=True),
    Stage("lost", "已流失", terminal=True),
)


class Pipeline:
    def __init__(self, stages: tuple[Stage, ...] = DEFAULT_STAGES) -> None:
        self.stages = stages
        self._by_key = {s.key: s for s in stages}
        self._by_name = {s.name: s for s in stages}

    @property
    def first(self) -> Stage:
        return self.stages[0]

    def get(self, key: str) -> Stage:
        return self._by_key[key]

    def name(self, key: str) -> str:
        stage = self._by_key.get(key)
        return stage.name if stage else key

    def index(self, key: str) -> int:
        return self.stages.index(self._by_key[key])

    def resolve(self, text: str) -> Stage:
        """A stage from its key or Chinese name; unknown text suggests the closest name."""
        text = text.strip()
        if text in self._by_key:
            return self._by_key[text]
        if text in self._by_name:
            return self._by_name[text]
        best = process.extractOne(text, list(self._by_name), scorer=fuzz.ratio)
        names = "、".join(s.name for s in self.stages)
        hint = f"您是不是想说「{best[0]}」？" if best and best[1] >= 40 else ""
        raise InvalidInput(f"没有叫「{text}」的阶段。可选阶段：{names}。", hint=hint)
