"""the grid's filters: covering indexes that give the asset ids of one filter value

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 16:45:00

``metadata (camera_make, camera_model, asset_id)`` replaces the index on ``camera_make`` (its
prefix): the camera filter reads the distinct cameras from it (a loose index scan) and the asset
ids of the matching ones without reading rows. ``places (country_code, asset_id)``,
``(city, asset_id)`` and ``(geohash, asset_id)`` do the same for a country, a city (unindexed
before: a city filter read every place) and a geohash prefix; they replace the one-column indexes
on country_code and geohash. ``lumina.catalog.queries`` counts a filter's ids in these indexes to
choose how to find a page.
"""
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

NEW = {'ix_metadata_camera': ('metadata', ['camera_make', 'camera_model', 'asset_id']),
       'ix_places_country': ('places', ['country_code', 'asset_id']),
       'ix_places_city': ('places', ['city', 'asset_id']),
       'ix_places_geohash_asset': ('places', ['geohash', 'asset_id'])}
OLD = {'ix_metadata_camera_make': ('metadata', ['camera_make']),
       'ix_places_country_code': ('places', ['country_code']),
       'ix_places_geohash': ('places', ['geohash'])}


def upgrade() -> None:
    for name, (table, columns) in NEW.items():
        op.create_index(name, table, columns)
    for name, (table, _) in OLD.items():
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, (table, columns) in OLD.items():
        op.create_index(name, table, columns)
    for name, (table, _) in NEW.items():
        op.drop_index(name, table_name=table)
