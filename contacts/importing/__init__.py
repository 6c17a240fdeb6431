"""Contact import: read a CSV/XLSX file, check and stage its rows, then merge them in resumable chunks.

- `reading`: bytes → header and rows (encodings, delimiters, XLSX), or `UnreadableTable`.
- `rows`: a row → a staged row or a row error (columns, phone, consent, tags, attributes).
- `staging`: a whole file → staging rows, with phone normalization spread over processes.
- `merging`: staged rows → contacts, tags and consent events, set-based, chunk by chunk.
- `services`: the import's life cycle (create, stage, confirm, discard, merge, run).
"""
