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


BLOCK = 64  # columns whose maximum is taken together by best_columns
PRODUCT_ROWS = 8192  # database rows multiplied in float64 at a time (8192 x 1,280 x 8 bytes: 84 MB)


def similarities_of(query: np.ndarray, chunk: np.ndarray) -> np.ndarray:
    """query @ chunk.T as float32, each value the same wherever its row sits in the chunk: summed in float64, then
    rounded to float32. Equal vectors must tie (tags on the same images), and a float32 product's last bit depends on
    where a row falls in the BLAS kernel's blocks (OpenBLAS 0.3.31 gives equal rows of one product different values);
    float64's differences are some 10^-16, which the rounding to float32 takes away unless a value sits within that of
    a float32 rounding boundary (about one in 10^8)."""
    similarities = np.empty((len(query), len(chunk)), np.float32)
    query = np.asarray(query, np.float64)
    for start in range(0, len(chunk), PRODUCT_ROWS):
        rows = np.asarray(chunk[start:start + PRODUCT_ROWS], np.float64)
        similarities[:, start:start + len(rows)] = query @ rows.T
    return similarities


def best_columns(values: np.ndarray, k: int) -> np.ndarray:
    """Each row's k best columns (rows x k), largest value first, equal values in column order: exact, and the
    same on every machine (which of several equal values np.argpartition keeps depends on its sorting kernels,
    and tags on the same images have equal vectors). Finite values or -inf.

    The k largest lie in the k blocks of BLOCK columns with the largest maxima (a block holding one of them has a
    maximum at least the k-th value, and at most k blocks can) or in the last, shorter block; so the k-th value
    is found among those, and the columns at or above it in the blocks whose maximum reaches it, not by
    selecting over every column: np.argpartition over 50,000 columns was 23 of the 41 s of the 50,000-tag
    neighbour search (benchmarks/variant_scale.py)."""
    rows, width = values.shape
    k = min(k, width)
    if k == 0 or rows == 0:
        return np.zeros((rows, k), np.int64)
    full = width // BLOCK
    if k * BLOCK * 4 > width:  # too few blocks to gain from them
        kth = np.partition(values, width - k, axis=1)[:, width - k]
        hit_rows, hit_columns = np.nonzero(values >= kth[:, None])
    else:
        maxima = values[:, :full * BLOCK].reshape(rows, full, BLOCK).max(axis=2)  # a view: each row is contiguous
        blocks = np.argpartition(maxima, full - k, axis=1)[:, full - k:]
        columns = (blocks[:, :, None] * BLOCK + np.arange(BLOCK)).reshape(rows, k * BLOCK)
        candidates = np.concatenate([np.take_along_axis(values, columns, 1), values[:, full * BLOCK:]], axis=1)
        kth = np.partition(candidates, candidates.shape[1] - k, axis=1)[:, candidates.shape[1] - k]
        # Every column at or above the k-th value: in the blocks whose maximum reaches it, or in the last block.
        # Those blocks are the k taken unless values tie across more than k blocks.
        reaching = maxima >= kth[:, None]
        if np.all(np.count_nonzero(reaching, axis=1) <= k):
            candidate_columns = np.concatenate(
                [columns, np.broadcast_to(np.arange(full * BLOCK, width), (rows, width - full * BLOCK))], axis=1)
            hit_rows, places = np.nonzero(candidates >= kth[:, None])
            hit_columns = candidate_columns[hit_rows, places]
        else:
            block_rows, block_numbers = np.nonzero(reaching)
            tail_rows, tail_columns = np.nonzero(values[:, full * BLOCK:] >= kth[:, None])
            hit_rows = np.concatenate([np.repeat(block_rows, BLOCK), tail_rows])
            hit_columns = np.concatenate([(block_numbers[:, None] * BLOCK + np.arange(BLOCK)).ravel(),
                                          tail_columns + full * BLOCK])
            reached = values[hit_rows, hit_columns] >= kth[hit_rows]
            hit_rows, hit_columns = hit_rows[reached], hit_columns[reached]
    order = np.lexsort((hit_columns, -values[hit_rows, hit_columns], hit_rows))  # k or more a row (ties)
    hit_rows, hit_columns = hit_rows[order], hit_columns[order]
    rank = np.arange(len(hit_rows)) - np.searchsorted(hit_rows, hit_rows)  # place within its row
    return hit_columns[rank < k].reshape(rows, k)


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
            chunk_similarities = similarities_of(query, chunk)
            if skip_same_row:
                own = np.arange(query_start, query_start + len(query))
                inside = (own >= start) & (own < start + chunk_similarities.shape[1])
                chunk_similarities[np.flatnonzero(inside), own[inside] - start] = -np.inf
            # The chunk's best k, then the best k so far; each kept best first, equal values in row order, so
            # that equal values stay in row order through the next merge (earlier chunks' rows come first).
            best = best_columns(chunk_similarities, k)
            chunk_similarities = np.take_along_axis(chunk_similarities, best, 1)
            chunk_rows = best + start
            rows = np.concatenate([rows, chunk_rows], axis=1)
            similarities = np.concatenate([similarities, chunk_similarities], axis=1)
            if similarities.shape[1] > k:
                keep = best_columns(similarities, k)
                rows, similarities = np.take_along_axis(rows, keep, 1), np.take_along_axis(similarities, keep, 1)
        order = np.lexsort((rows, -similarities), axis=1) if rows.size else rows
        best_rows[query_start:query_start + len(query)] = np.take_along_axis(rows, order, 1)
        best_similarities[query_start:query_start + len(query)] = np.take_along_axis(similarities, order, 1)
    return best_rows, best_similarities
