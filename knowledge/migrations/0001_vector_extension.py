from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector first: every embedding column of the knowledge graph depends on it."""

    initial = True
    dependencies = []
    operations = [VectorExtension()]
