from django.db import migrations

# One row per node of the graph, whatever its kind, so operators can ask
# `SELECT kind, COUNT(*) FROM knowledge_nodes GROUP BY kind` without knowing the tables.
CREATE_VIEW = """
CREATE VIEW knowledge_nodes AS
    SELECT 'problem:' || id AS key, 'problem'::text AS kind, id, title AS label,
           created_at AS created
      FROM knowledge_problem
    UNION ALL
    SELECT 'solution:' || id, 'solution'::text, id, title, created_at
      FROM knowledge_solution
    UNION ALL
    SELECT 'pattern:' || id, 'pattern'::text, id, name, created_at
      FROM knowledge_pattern
"""


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0002_graph")]

    operations = [
        migrations.RunSQL(CREATE_VIEW, reverse_sql="DROP VIEW IF EXISTS knowledge_nodes"),
    ]
