"""Hot spots (热点): where cases cluster, and which cells are hot or cold beyond chance.

- clusters: DBSCAN over the cases' points by PostGIS (`ST_ClusterDBSCAN`), `eps` metres apart in the UTM zone of
  the cases (a metric projection: distances within a city are true to a few parts in ten thousand), at least
  `min_points` cases within reach of a core case. A cluster says where cases are close together, not why.
- cells: the Getis-Ord Gi* z-score of every live cell of the area over its neighbourhood (the cells of the area
  it touches, itself included), its significance exact under complete spatial randomness (stats.py), corrected for
  the number of cells tested by Benjamini–Hochberg at `alpha`: hot (more cases around it than chance would put
  there) or cold.

Gi* is computed here with numpy (stats.gi_star, a dozen lines checked against a hand computation) on neighbourhoods
found by Shapely's STRtree, rather than with PySAL's esda: esda would bring libpysal, pandas and scikit-learn (and
geopandas to build its weights from polygons) for one formula; the exact tail and the correction come from scipy,
which esda needs too.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.config import Settings
from citymgmt.core.db import read_at_scale
from citymgmt.core.errors import ValidationError
from dispatch.analysis.queries import (
    ADJACENCY_OF_SQL,
    KEPT_LEVELS,
    cells_sql,
    clusters_sql,
    kept_cells_sql,
    utm_srid_sql,
)
from dispatch.analysis.rollups import answered_from, grid_kept
from dispatch.analysis.scope import Scope, category_names, place_features
from dispatch.analysis.stats import (
    benjamini_hochberg,
    gi_star,
    gi_star_of_sums,
    neighbourhood_p,
    neighbourhood_sums,
)

MAX_CELLS = 200_000  # an area beyond this is asked for by district or street


def clusters(
    session: Session, scope: Scope, settings: Settings, *, eps: float = 50.0, min_points: int = 5, limit: int = 100
) -> list[dict[str, Any]]:
    """The DBSCAN clusters of the scope's cases, largest first: size, most common category, hull, centre, cases."""
    if not 1 <= eps <= 5000:
        raise ValidationError("eps must be 1 to 5000 metres", details={"eps": "out of range"})
    if not 2 <= min_points <= 1000:
        raise ValidationError("min_points must be 2 to 1000", details={"min_points": "out of range"})
    params = scope.params(settings)
    srid = session.execute(text(utm_srid_sql(scope.area_column)), params).scalar()
    if srid is None:
        return []  # no case in scope
    sql = clusters_sql(srid, scope.area_column)
    rows = session.execute(text(sql), params | {"eps": eps, "min_points": min_points, "limit": limit})
    found = [
        {
            "cluster": i,
            "cases": r.cases,
            "top_category": r.top_category,
            "lon": round(r.lon, 6),
            "lat": round(r.lat, 6),
            "hull": json.loads(r.hull),
            "case_codes": r.case_codes,
        }
        for i, r in enumerate(rows, start=1)
    ]
    names = category_names(session, {c["top_category"] for c in found})
    for c in found:
        c["top_category_name"], c["top_category_name_en"] = names.get(c["top_category"], (None, None))
    return found


def neighbourhoods(outlines: list[bytes]) -> list[list[int]]:
    """Each cell's neighbours, itself included: the cells whose outline touches or overlaps its own (queen
    contiguity), by index. Shapely's STRtree in the process: one bulk query, where a probe of the database's GiST
    index a cell took 0.3 ms (3 s for the demo city's 9,453 cells)."""
    geoms = shapely.from_wkb(outlines)
    pairs = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    order = np.lexsort((pairs[1], pairs[0]))
    rows, cols = pairs[0][order], pairs[1][order]
    bounds = np.searchsorted(rows, np.arange(len(outlines) + 1))
    return [cols[bounds[i] : bounds[i + 1]].tolist() for i in range(len(outlines))]


def adjacent_sums(values: np.ndarray, indptr: bytes, indices: bytes) -> np.ndarray:
    """Each cell's neighbourhood's sum of `values` from a kept sparse matrix in compressed rows (ADJACENCY_SQL:
    4-byte big-endian integers): row i's neighbours are indices[indptr[i]:indptr[i + 1]]."""
    starts = np.frombuffer(indptr, dtype=">i4").astype(np.int64)
    neighbours = np.frombuffer(indices, dtype=">i4").astype(np.int64)
    rows = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    return np.bincount(rows, weights=values[neighbours], minlength=len(starts) - 1)


def hot_cells(
    session: Session, scope: Scope, settings: Settings, *, alpha: float = 0.05, rolled: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """The significant hot and cold cells (hot first, by z), and the number of cells tested. Rolled: the counts
    from the roll-up and the neighbourhoods as kept by the job (analysis_cells, analysis_neighbours); otherwise
    the counts from the cases and the neighbourhoods from the cells' outlines."""
    if not 0 < alpha < 1:
        raise ValidationError("alpha must be between 0 and 1", details={"alpha": "out of range"})
    params = scope.params(settings)
    kept = rolled and grid_kept(session)
    adjacency = None
    if kept:
        level = KEPT_LEVELS[len(scope.area) if scope.area else None]
        if scope.area and scope.area_column == "district_code":
            adjacency = session.execute(text(ADJACENCY_OF_SQL), {"area": scope.area}).one_or_none()
        local_sql = kept_cells_sql(scope.area_column, level, local=adjacency is None)
        rows = session.execute(text(local_sql), params).all()
        if adjacency is not None and adjacency.cells != len(rows):  # not from the same build: add up in SQL
            adjacency = None
            rows = session.execute(text(kept_cells_sql(scope.area_column, level)), params).all()
    else:
        rows = session.execute(text(cells_sql(scope.area_column)), params).all()
    if len(rows) > MAX_CELLS:
        raise ValidationError(
            f"more than {MAX_CELLS} cells: choose a district or street", details={"area": "too many cells"}
        )
    # The columns at once (one pass over the rows, by position): reading each row's fields by name cost as much as
    # the query at a district's 62,500 cells.
    columns = list(zip(*rows, strict=True)) if rows else [()] * 6
    counts = np.array(columns[2], dtype=np.float64)
    area = np.array(columns[1], dtype=np.float64)
    total = int(counts.sum())
    if total == 0 or len(rows) < 2:
        return [], len(rows)
    if kept:
        local = (
            np.array(columns[5], dtype=np.float64)
            if adjacency is None
            else adjacent_sums(counts, bytes(adjacency.indptr), bytes(adjacency.indices))
        )
        z = gi_star_of_sums(counts, local, np.array(columns[3], dtype=np.float64))
        shares = np.array(columns[4], dtype=np.float64) / area.sum()
    else:
        neighbours = neighbourhoods([bytes(w) for w in columns[3]])
        z = gi_star(counts, neighbours)
        local = neighbourhood_sums(counts, neighbours)
        shares = neighbourhood_sums(area, neighbours) / area.sum()
    upper, lower = neighbourhood_p(local, shares, total)
    p = np.minimum(1.0, 2 * np.minimum(upper, lower))
    q = benjamini_hochberg(p)
    found = [
        {
            "code": columns[0][i],
            "kind": "hot" if upper[i] < lower[i] else "cold",
            "z": round(float(z[i]), 4),
            "p": float(p[i]),
            "q": float(q[i]),
            "cases": int(counts[i]),
            "neighbourhood_cases": int(local[i]),
            "expected": round(float(shares[i] * total), 3),
        }
        for i in np.flatnonzero(q <= alpha).tolist()
    ]
    found.sort(key=lambda c: (c["kind"] != "hot", -abs(c["z"]), c["code"]))
    return found, len(rows)


def hotspots(
    session: Session,
    scope: Scope,
    settings: Settings,
    *,
    eps: float = 50.0,
    min_points: int = 5,
    alpha: float = 0.05,
    limit: int = 100,
    fresh: bool = False,
) -> dict[str, Any]:
    """The clusters (always of the cases' points: no roll-up keeps them) and the hot and cold cells (their counts
    from the roll-up, or from the cases when `fresh`)."""
    read_at_scale(session)
    rolled, source = answered_from(session, fresh)
    cells, tested = hot_cells(session, scope, settings, alpha=alpha, rolled=rolled)
    return {
        **scope.describe(),
        "eps": eps,
        "min_points": min_points,
        "alpha": alpha,
        "cells_tested": tested,
        "clusters": clusters(session, scope, settings, eps=eps, min_points=min_points, limit=limit),
        "cells": cells,
        **source,
    }


def hotspot_features(session: Session, result: dict[str, Any]) -> dict[str, Any]:
    """The hot and cold cells (their polygons) and the clusters (their hulls) as one GeoJSON FeatureCollection."""
    cells = [{"layer": "cell", **c} for c in result["cells"]]
    features: list[dict[str, Any]] = place_features(session, "cell", cells, key="code")["features"]
    for c in result["clusters"]:
        properties = {k: v for k, v in c.items() if k != "hull"}
        features.append(
            {
                "type": "Feature",
                "id": f"cluster-{c['cluster']}",
                "geometry": c["hull"],
                "properties": {"layer": "cluster", **properties},
            }
        )
    return {"type": "FeatureCollection", "features": features}
