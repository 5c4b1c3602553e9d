"""``lumina similar FILE_OR_ID`` and ``lumina search "QUERY"``: image and text search."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, errors_to_exit, on_catalog

LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="Most results shown")]


def similar_command(
    ref: Annotated[str, typer.Argument(metavar="FILE_OR_ID",
                                       help="An asset id (prefix of >= 8 hex digits), a catalogued path, or any image file")],
    limit: LimitOpt = 10,
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """The nearest images by cosine distance of their embeddings (0 = same), nearest first."""
    with errors_to_exit():
        from lumina.analysis.search import similar

        doc = on_catalog(catalog, lambda cat: similar(cat, ref, limit))
    if fmt is Format.json:
        emit_json(doc)
        return
    typer.echo(f"model {doc['model_id']}; cosine distance, nearest first")
    for r in doc["results"]:
        typer.echo(f"{r['distance']:.4f}  {r['asset_id'][:12]}  {r['paths'][0] if r['paths'] else ''}")


def search_command(
    query: Annotated[str, typer.Argument(metavar="QUERY", help='Words, e.g. "dog on a beach july 2019 nikon"')],
    limit: LimitOpt = 20,
    max_distance: Annotated[float | None, typer.Option(
        "--max-distance", min=0.0, max=2.0, help="Cut-off: hits farther than this are not shown (default: setting "
                                                 "search_max_distance)")] = None,
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Find photos by words: tags and descriptions matched semantically (or CLIP when configured);
    years, months, places, cameras and file kinds in the query become filters."""
    with errors_to_exit():
        from lumina.analysis.search import search

        doc = on_catalog(catalog, lambda cat: search(cat, query, limit, max_distance))
    if fmt is Format.json:
        emit_json(doc)
        return
    typer.echo(f"mode {doc['mode']}; text model {doc['text_model_id']}; image model {doc['image_model_id']}; "
               f"filters {', '.join(f['filter'] + '=' + str(f['value']) for f in doc['filters']) or 'none'}; "
               f"cut-off distance {doc['max_distance']}")
    for r in doc["results"]:
        typer.echo(f"{r['distance']:.4f}  {r['asset_id'][:12]}  {r['paths'][0] if r['paths'] else ''}  "
                   f"{_matched(r['matched'])}")
    if not doc["results"]:
        typer.echo("no hits under the cut-off" + ("; nearest (low confidence):" if doc["low_confidence"] else ""))
        for r in doc["low_confidence"]:
            typer.echo(f"{r['distance']:.4f}  {r['asset_id'][:12]}  {r['paths'][0] if r['paths'] else ''}  "
                       f"{_matched(r['matched'])}  LOW CONFIDENCE")


def _matched(matched: list[dict]) -> str:
    parts = []
    for m in matched:
        if "filter" in m:
            parts.append(f"{m['filter']}={m['value']}")
        elif "tag" in m:
            parts.append(f"{m['term']}~{m['tag']} ({m['source']}, {m['similarity']:.2f}x{m['tag_score']:.2f})")
        elif "description" in m:
            parts.append(f"description ({m['similarity']:.2f})")
        else:
            parts.append(f"clip {m['clip']}")
    return "; ".join(parts)
