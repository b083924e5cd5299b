"""Repositories for customer imports: the batch ledger (by file sha256) and the review items."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.imports import ImportBatch, ReviewItem
from storage.models import ImportBatchRow, ReviewItemRow


def _batch(r: ImportBatchRow) -> ImportBatch:
    return ImportBatch(r.id, r.filename, r.sha256, r.created_by, r.created_at, r.state, dict(r.summary or {}))


def _item(r: ReviewItemRow) -> ReviewItem:
    return ReviewItem(
        r.id,
        r.batch_id,
        r.row_no,
        dict(r.data or {}),
        r.candidate_customer_id,
        r.score,
        list(r.evidence or []),
        r.state,
        r.decided_by,
        r.decided_at,
    )


class SqlImportBatchRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, batch: ImportBatch) -> ImportBatch:
        row = ImportBatchRow(
            filename=batch.filename[:500],
            sha256=batch.sha256,
            created_by=batch.created_by,
            created_at=batch.created_at,
            state=batch.state,
            summary=dict(batch.summary),
        )
        self.s.add(row)
        self.s.flush()
        batch.id = row.id
        return batch

    def get(self, batch_id: int) -> ImportBatch | None:
        row = self.s.get(ImportBatchRow, batch_id)
        return _batch(row) if row else None

    def by_sha256(self, sha256: str) -> list[ImportBatch]:
        q = select(ImportBatchRow).where(ImportBatchRow.sha256 == sha256).order_by(ImportBatchRow.id)
        return [_batch(r) for r in self.s.scalars(q)]

    def update(self, batch: ImportBatch) -> None:
        row = self.s.get(ImportBatchRow, batch.id)
        if row is None:
            raise LookupError(f"import batch {batch.id} does not exist")
        row.state = batch.state
        row.summary = dict(batch.summary)  # a new object: plain JSON columns do not track changes inside


class SqlReviewItemRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, item: ReviewItem) -> ReviewItem:
        row = ReviewItemRow(
            batch_id=item.batch_id,
            row_no=item.row_no,
            data=dict(item.data),
            candidate_customer_id=item.candidate_customer_id,
            score=item.score,
            evidence=list(item.evidence),
            state=item.state,
        )
        self.s.add(row)
        self.s.flush()
        item.id = row.id
        return item

    def get(self, item_id: int, *, lock: bool = False) -> ReviewItem | None:
        q = select(ReviewItemRow).where(ReviewItemRow.id == item_id)
        if lock and self.s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()  # a card press and a CSV apply at once: the second sees "decided"
        row = self.s.scalars(q).first()
        return _item(row) if row else None

    def update(self, item: ReviewItem) -> None:
        row = self.s.get(ReviewItemRow, item.id)
        if row is None:
            raise LookupError(f"review item {item.id} does not exist")
        row.data = dict(item.data)
        row.state = item.state
        row.decided_by = item.decided_by
        row.decided_at = item.decided_at

    def for_file_row(self, sha256: str, row_no: int) -> ReviewItem | None:
        q = (
            select(ReviewItemRow)
            .join(ImportBatchRow, ImportBatchRow.id == ReviewItemRow.batch_id)
            .where(ImportBatchRow.sha256 == sha256, ReviewItemRow.row_no == row_no)
            .order_by(ReviewItemRow.id)
            .limit(1)
        )
        row = self.s.scalars(q).first()
        return _item(row) if row else None

    def pending(self, *, limit: int = 20, after_id: int = 0) -> list[ReviewItem]:
        q = (
            select(ReviewItemRow)
            .where(ReviewItemRow.state == "pending", ReviewItemRow.id > after_id)
            .order_by(ReviewItemRow.id)
            .limit(limit)
        )
        return [_item(r) for r in self.s.scalars(q)]

    def count_pending(self) -> int:
        q = select(func.count()).select_from(ReviewItemRow).where(ReviewItemRow.state == "pending")
        return int(self.s.scalar(q) or 0)
