"""Exact cosine nearest neighbours in bounded memory: similar.py's image search and cluster_tags.py's candidates.

The database may be a memory-mapped .npy larger than memory: it is read in chunks of rows, and only the best k
per query are kept between chunks, so memory is one chunk of similarities plus k per query.
"""

import numpy as np

QUERY_CHUNK = 512  # query rows at a time
DATABASE_CHUNK = 65_536  # database rows at a time: 512 x 65,536 float32 similarities is 128 MB


def unit_rows(rows) -> np.ndarray:
    rows = np.asarray(rows, np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


BLOCK = 64  # columns whose maximum is taken together by largest_columns


def largest_columns(values: np.ndarray, k: int) -> np.ndarray:
    """Each row's k largest values' column indices (in no order; ties at the k-th value broken arbitrarily).

    The k largest lie in the k blocks of BLOCK columns with the largest maxima (a block holding one of them has
    a maximum at least the k-th value, and at most k blocks can), so the selection runs on block maxima and then
    on k x BLOCK candidates, not on every column: np.argpartition over 50,000 columns was 23 of the 41 s of the
    50,000-tag neighbour search (benchmarks/variant_scale.py)."""
    rows, width = values.shape
    full = width // BLOCK
    if k * BLOCK * 4 > width:  # too few blocks to gain from them
        return np.argpartition(values, width - k, axis=1)[:, width - k:]
    maxima = values[:, :full * BLOCK].reshape(rows, full, BLOCK).max(axis=2)  # a view: rows are contiguous
    if width > full * BLOCK:  # the last, shorter block
        maxima = np.concatenate([maxima, values[:, full * BLOCK:].max(axis=1, keepdims=True)], axis=1)
    blocks = np.argpartition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k:]
    columns = (blocks[:, :, None] * BLOCK + np.arange(BLOCK)).reshape(rows, k * BLOCK)
    columns = np.minimum(columns, width - 1)  # the last block's columns past the end: its last column again
    candidates = np.take_along_axis(values, columns, 1)
    # A column repeated by the clamp above must not be taken twice: the copies after the first count as -inf.
    repeated = np.zeros_like(candidates, bool)
    repeated[:, 1:] = columns[:, 1:] == columns[:, :-1]
    candidates[repeated] = -np.inf
    best = np.argpartition(candidates, k * BLOCK - k, axis=1)[:, k * BLOCK - k:]
    return np.take_along_axis(columns, best, 1)


def nearest_rows(queries, database, k: int, skip_same_row: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(rows, similarities), each queries x k: the database rows most cosine-similar to each query, best first,
    equal similarities in row order. skip_same_row: queries are the database itself; a row is not its own
    neighbour. k is lowered to the number of rows there are."""
    count = len(database)
    k = max(0, min(k, count - (1 if skip_same_row else 0)))
    best_rows = np.zeros((len(queries), k), np.int64)
    best_similarities = np.zeros((len(queries), k), np.float32)
    if k == 0:
        return best_rows, best_similarities
    # A database of one chunk is normalized once, not once per chunk of queries.
    single = unit_rows(database) if count <= DATABASE_CHUNK else None
    for query_start in range(0, len(queries), QUERY_CHUNK):
        query = unit_rows(queries[query_start:query_start + QUERY_CHUNK])
        rows = np.zeros((len(query), 0), np.int64)
        similarities = np.zeros((len(query), 0), np.float32)
        for start in range(0, count, DATABASE_CHUNK):
            chunk = single if single is not None else unit_rows(database[start:start + DATABASE_CHUNK])
            chunk_similarities = query @ chunk.T
            chunk_rows = np.broadcast_to(np.arange(start, start + chunk_similarities.shape[1]), chunk_similarities.shape)
            if skip_same_row:
                own = np.arange(query_start, query_start + len(query))
                inside = (own >= start) & (own < start + chunk_similarities.shape[1])
                chunk_similarities[np.flatnonzero(inside), own[inside] - start] = -np.inf
            if chunk_similarities.shape[1] > k:  # the chunk's best k first: no index array of the whole chunk
                best = largest_columns(chunk_similarities, k)
                chunk_similarities = np.take_along_axis(chunk_similarities, best, 1)
                chunk_rows = best + start
            rows = np.concatenate([rows, chunk_rows], axis=1)
            similarities = np.concatenate([similarities, chunk_similarities], axis=1)
            if similarities.shape[1] > k:  # keep the best k so far
                keep = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
                rows, similarities = np.take_along_axis(rows, keep, 1), np.take_along_axis(similarities, keep, 1)
        order = np.lexsort((rows, -similarities), axis=1) if rows.size else rows
        best_rows[query_start:query_start + len(query)] = np.take_along_axis(rows, order, 1)
        best_similarities[query_start:query_start + len(query)] = np.take_along_axis(similarities, order, 1)
    return best_rows, best_similarities
