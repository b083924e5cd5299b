"""Stage rules: the configurable sales process (design.md §4), as pydantic config and pure functions.

`[pipeline]` in crmbot.toml overrides the shipped default below. Each stage declares the evidence
needed to ENTER it (alternatives: any one suffices; inside one alternative everything is needed),
its maximum dwell in working days, the deal fields that freeze when it is entered, and whether
leaving it backwards needs the manager's approval. The use cases in `core/usecases/stages.py`
apply these rules to every writer (chat, cards, imports, the API).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from rapidfuzz import fuzz, process

from core.errors import InvalidInput
from core.model import Deal
from core.pipeline import Pipeline, Stage
from core.workcal import WorkCalendar

# Deal fields a stage may require or freeze, with the Chinese word the chat uses for each.
DEAL_FIELD_NAMES: dict[str, str] = {
    "amount": "金额",
    "products": "产品",
    "payment_terms": "付款条件",
    "competitor": "竞争对手",
    "close_date": "预计成交日期",
}


class EvidenceRule(BaseModel):
    """One way to satisfy a stage's entry: every part of it is needed."""

    attachments: list[str] = Field(default_factory=list)  # attachment kinds, e.g. ["requirements"]
    effective_calls: int = Field(default=0, ge=0)  # calls flagged effective (≥ 8 min, about price/contract)
    fields: list[str] = Field(default_factory=list)  # deal fields that must be filled, e.g. ["amount"]


class StageRule(BaseModel):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: str = Field(min_length=1, max_length=20)
    entry: list[EvidenceRule] = Field(default_factory=list)  # alternatives; empty = no evidence needed
    max_dwell_days: int | None = Field(default=5, ge=1)  # working days; None = no limit
    freeze_on_entry: list[str] = Field(default_factory=list)
    backward_needs_approval: bool = True
    outcome: Literal["won", "lost"] | None = None  # terminal stages


DEFAULT_LOST_REASONS = ["价格太高", "选择了竞品", "预算取消", "需求变化", "项目暂停", "联系不上", "其他"]
DEFAULT_ATTACHMENT_KINDS = {
    "requirements": "需求文档",
    "quote": "报价单",
    "contract": "合同扫描件",
    "other": "其他材料",
}

DEFAULT_STAGE_RULES: list[StageRule] = [
    StageRule(key="lead", name="线索"),
    StageRule(key="qualified", name="初步接触"),
    StageRule(key="needs_confirmed", name="需求确认"),
    # leaving 需求确认: a requirements document, or at least 2 effective calls
    StageRule(
        key="demo",
        name="方案演示",
        entry=[EvidenceRule(attachments=["requirements"]), EvidenceRule(effective_calls=2)],
    ),
    StageRule(key="quote", name="报价", entry=[EvidenceRule(fields=["amount"])], max_dwell_days=3),
    StageRule(key="contract_review", name="合同评审", entry=[EvidenceRule(attachments=["quote"])]),
    StageRule(
        key="won",
        name="已签约",
        entry=[EvidenceRule(attachments=["contract"])],
        max_dwell_days=None,
        freeze_on_entry=["amount", "products", "payment_terms"],
        outcome="won",
    ),
    StageRule(key="lost", name="已流失", max_dwell_days=None, outcome="lost"),
]


class PipelineConfig(BaseModel):
    """`[pipeline]` in crmbot.toml. Every key has a shipped default."""

    stages: list[StageRule] = Field(
        default_factory=lambda: [s.model_copy(deep=True) for s in DEFAULT_STAGE_RULES]
    )
    lost_reasons: list[str] = Field(default_factory=lambda: list(DEFAULT_LOST_REASONS), min_length=1)
    attachment_kinds: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ATTACHMENT_KINDS))
    max_attachment_mb: float = Field(default=20, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> PipelineConfig:
        keys = [s.key for s in self.stages]
        if len(set(keys)) != len(keys):
            raise ValueError(f"pipeline.stages: duplicate stage key in {keys}")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline.stages: duplicate stage name in {names}")
        for outcome in ("won", "lost"):
            if sum(1 for s in self.stages if s.outcome == outcome) != 1:
                raise ValueError(f'pipeline.stages: exactly one stage needs outcome = "{outcome}"')
        open_stages = [s for s in self.stages if s.outcome is None]
        if not open_stages or self.stages[0].outcome is not None:
            raise ValueError("pipeline.stages: the first stage must be an open stage (e.g. 线索)")
        if self.stages[-1].outcome != "lost" or self.stages[-2].outcome != "won":
            raise ValueError("pipeline.stages: end with the won stage, then the lost stage")
        for stage in self.stages:
            for rule in stage.entry:
                for kind in rule.attachments:
                    if kind not in self.attachment_kinds:
                        raise ValueError(
                            f"pipeline.stages.{stage.key}: unknown attachment kind {kind!r} "
                            f"(known: {', '.join(self.attachment_kinds)})"
                        )
                for name in rule.fields:
                    if name not in DEAL_FIELD_NAMES:
                        raise ValueError(f"pipeline.stages.{stage.key}: unknown deal field {name!r}")
            for name in stage.freeze_on_entry:
                if name not in DEAL_FIELD_NAMES:
                    raise ValueError(f"pipeline.stages.{stage.key}: cannot freeze unknown field {name!r}")
        return self


@dataclass(frozen=True)
class EvidenceSummary:
    """What a deal has to show for itself: attachment kinds on file and effective calls logged."""

    attachments: frozenset[str] = frozenset()
    effective_calls: int = 0


@dataclass
class Approval:
    """A change waiting for a manager: a stage regression or an edit of a frozen field."""

    id: int | None
    kind: str  # stage_regression | frozen_field
    deal_id: int
    requested_by: str
    approver_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    state: str = "pending"  # pending | approved | rejected | cancelled
    decided_by: str | None = None
    decided_at: datetime | None = None
    created_at: datetime | None = None


@dataclass
class EvidenceFile:
    """A file attached to a deal as stage evidence, stored by content hash."""

    id: int | None
    deal_id: int | None
    customer_id: int | None
    kind: str
    sha256: str
    filename: str
    size: int
    stored_path: str
    uploaded_by: str
    created_at: datetime
    content_type: str = "application/octet-stream"


class StageRules:
    """The configured pipeline, with the pure rule functions the use cases and reminders call."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        self._by_key = {s.key: s for s in self.config.stages}
        self._order = [s.key for s in self.config.stages if s.outcome != "lost"]
        self.pipeline = Pipeline(
            tuple(Stage(s.key, s.name, terminal=s.outcome is not None) for s in self.config.stages)
        )

    @classmethod
    def from_settings(cls, raw: dict[str, Any] | None) -> StageRules:
        return cls(PipelineConfig.model_validate(raw or {}))

    # ---------------------------------------------------------------- stages
    def get(self, key: str) -> StageRule:
        try:
            return self._by_key[key]
        except KeyError:
            raise InvalidInput(f"没有阶段「{key}」。") from None

    def name(self, key: str) -> str:
        rule = self._by_key.get(key)
        return rule.name if rule else key

    def resolve(self, text: str) -> StageRule:
        """A stage from its key or Chinese name; unknown text suggests the closest name."""
        return self._by_key[self.pipeline.resolve(text).key]

    @property
    def won(self) -> StageRule:
        return next(s for s in self.config.stages if s.outcome == "won")

    @property
    def lost(self) -> StageRule:
        return next(s for s in self.config.stages if s.outcome == "lost")

    def position(self, key: str) -> int:
        """Order along the forward path (lost has no position: it is reachable from any open stage)."""
        if key not in self._order:
            raise InvalidInput(f"「{self.name(key)}」不在推进顺序上。")
        return self._order.index(key)

    def next_stage(self, key: str) -> StageRule | None:
        if key not in self._order:
            return None
        i = self._order.index(key)
        return self._by_key[self._order[i + 1]] if i + 1 < len(self._order) else None

    def between(self, current: str, target: str) -> list[StageRule]:
        """The stages a move from `current` to `target` would skip (exclusive at both ends)."""
        a, b = self.position(current), self.position(target)
        return [self._by_key[k] for k in self._order[a + 1 : b]]

    # ---------------------------------------------------------------- evidence
    def kind_name(self, kind: str) -> str:
        return self.config.attachment_kinds.get(kind, kind)

    def missing_evidence(self, deal: Deal, target_stage: str, evidence: EvidenceSummary) -> list[str]:
        """What the deal still lacks to enter `target_stage`, in Chinese; empty when it may enter.

        With several alternatives the answer is one line naming each way in ("…，或…").
        """
        rule = self.get(target_stage)
        if not rule.entry:
            return []
        gaps = [self._gaps(deal, alt, evidence) for alt in rule.entry]
        if any(not g for g in gaps):
            return []
        if len(gaps) == 1:
            return gaps[0]
        return ["，或".join("、".join(g) for g in gaps)]

    def _gaps(self, deal: Deal, alt: EvidenceRule, evidence: EvidenceSummary) -> list[str]:
        out = [f"上传{self.kind_name(k)}" for k in alt.attachments if k not in evidence.attachments]
        if evidence.effective_calls < alt.effective_calls:
            out.append(f"至少 {alt.effective_calls} 次有效通话（目前 {evidence.effective_calls} 次）")
        out += [f"填写{DEAL_FIELD_NAMES[f]}" for f in alt.fields if getattr(deal, f, None) in (None, "", [])]
        return out

    def required_attachment(self, target_stage: str) -> str | None:
        """The attachment kind that would satisfy `target_stage` on its own, if there is one."""
        for alt in self.get(target_stage).entry:
            if len(alt.attachments) == 1 and not alt.fields and not alt.effective_calls:
                return alt.attachments[0]
        return None

    # ---------------------------------------------------------------- dwell, freezing, regression
    def dwell_limit_days(self, stage_key: str) -> int | None:
        rule = self._by_key.get(stage_key)
        return rule.max_dwell_days if rule else None

    def frozen_fields(self, stage_key: str) -> list[str]:
        """Fields frozen at `stage_key`: everything frozen on entry to it or to any stage before it."""
        if stage_key not in self._order:
            return []
        out: list[str] = []
        for key in self._order[: self._order.index(stage_key) + 1]:
            out += [f for f in self._by_key[key].freeze_on_entry if f not in out]
        return out

    def regression_needs_approval(self, from_stage: str) -> bool:
        rule = self._by_key.get(from_stage)
        return True if rule is None else rule.backward_needs_approval

    # ---------------------------------------------------------------- lost reasons, attachment kinds
    def resolve_lost_reason(self, text: str) -> str:
        text = text.strip()
        reasons = self.config.lost_reasons
        if text in reasons:
            return text
        options = "、".join(reasons)
        best = process.extractOne(text, reasons, scorer=fuzz.partial_ratio) if text else None
        if best and best[1] >= 80 and len(text) >= 2:
            return str(best[0])
        hint = f"您是不是想说「{best[0]}」？" if best and best[1] >= 40 else ""
        raise InvalidInput(f"「{text}」不在流失原因列表中。可选原因：{options}。", hint=hint)

    def resolve_kind(self, text: str) -> str | None:
        """An attachment kind from its key or Chinese name (or an obvious short form); None if unknown."""
        text = text.strip()
        if text in self.config.attachment_kinds:
            return text
        for key, name in self.config.attachment_kinds.items():
            if text == name or (len(text) >= 2 and name.startswith(text)):
                return key
        return KIND_SYNONYMS.get(text) if KIND_SYNONYMS.get(text) in self.config.attachment_kinds else None


# Words reps use for the shipped attachment kinds.
KIND_SYNONYMS = {
    "需求": "requirements",
    "需求书": "requirements",
    "需求说明": "requirements",
    "需求说明书": "requirements",
    "报价": "quote",
    "报价表": "quote",
    "合同": "contract",
    "合同扫描": "contract",
    "签约合同": "contract",
    "盖章合同": "contract",
    "其他": "other",
    "资料": "other",
}


def dwell_days(entered: date, today: date, calendar: WorkCalendar | None) -> int:
    """Days in the stage: working days with a calendar, calendar days without one."""
    if calendar is None:
        return max(0, (today - entered).days)
    return max(0, calendar.workdays_between(entered, today))


def dwell_deadline(entered: date, limit_days: int, calendar: WorkCalendar | None) -> date:
    """The last day the deal may stay in the stage before it counts as stalled."""
    if calendar is None:
        return entered + timedelta(days=limit_days)
    return calendar.add_workdays(entered, limit_days)


DEFAULT_RULES = StageRules()


def missing_evidence(
    deal: Deal, target_stage: str, evidence_summary: EvidenceSummary, *, rules: StageRules | None = None
) -> list[str]:
    """Module-level form for callers holding no rules object (the reminders' stall diagnostic)."""
    return (rules or DEFAULT_RULES).missing_evidence(deal, target_stage, evidence_summary)


def dwell_limit_days(stage_key: str, *, rules: StageRules | None = None) -> int | None:
    return (rules or DEFAULT_RULES).dwell_limit_days(stage_key)
