"""Card serialisation (outbox rows, the cards table) and the console's text rendering."""

from __future__ import annotations

from typing import Any

from bot.types import Button, Card


def card_to_dict(card: Card) -> dict[str, Any]:
    return {
        "title": card.title,
        "description": card.description,
        "fields": [list(f) for f in card.fields],
        "buttons": [{"label": b.label, "action_id": b.action_id, "style": b.style} for b in card.buttons],
        "footer": card.footer,
    }


def card_from_dict(data: dict[str, Any]) -> Card:
    return Card(
        title=data["title"],
        description=data.get("description", ""),
        fields=tuple((str(k), str(v)) for k, v in data.get("fields", [])),
        buttons=tuple(Button(b["label"], b["action_id"], b.get("style", "default")) for b in data.get("buttons", [])),
        footer=data.get("footer", ""),
    )


def render_text(card: Card) -> str:
    """A card as console text: title, fields, then numbered buttons (type the number or the label)."""
    lines = [f"【{card.title}】"]
    if card.description:
        lines.append(card.description)
    for key, value in card.fields:
        lines.append(f"  {key}：{value}")
    if card.footer:
        lines.append(card.footer)
    if card.buttons:
        lines.append("  " + "  ".join(f"[{i}] {b.label}" for i, b in enumerate(card.buttons, 1)))
    return "\n".join(lines)


def card_as_plain_text(card: Card) -> str:
    """For channels that cannot show a card: the same content without buttons."""
    lines = [card.title]
    if card.description:
        lines.append(card.description)
    lines.extend(f"{k}：{v}" for k, v in card.fields)
    if card.footer:
        lines.append(card.footer)
    return "\n".join(lines)
