DROP TABLE inventory_cells;
DROP TABLE units;
DROP TABLE providers;
