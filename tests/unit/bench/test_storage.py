import pytest

from bench.storage import documented_queries

DOC = """
Intro text with `inline` code.

```sql
-- First query
SELECT 1 AS a;

-- Second query
SELECT 'x;y' AS b
FROM t;
```

```bash
psql -c 'not sql'
```

```sql
-- Third
WITH c AS (SELECT 1) SELECT * FROM c;
```
"""


def test_documented_queries_reads_every_titled_statement_of_sql_blocks() -> None:
    assert documented_queries(DOC) == [
        ("First query", "-- First query\nSELECT 1 AS a"),
        ("Second query", "-- Second query\nSELECT 'x;y' AS b\nFROM t"),
        ("Third", "-- Third\nWITH c AS (SELECT 1) SELECT * FROM c"),
    ]


def test_untitled_statement_is_an_error() -> None:
    with pytest.raises(ValueError, match="without a title"):
        documented_queries("```sql\nSELECT 1;\n```\n")
