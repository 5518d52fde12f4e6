DROP TABLE provider_photos;
ALTER TABLE providers
    DROP CONSTRAINT providers_position_whole,
    DROP COLUMN photo_etag,
    DROP COLUMN longitude,
    DROP COLUMN latitude;
DROP TABLE cities;
