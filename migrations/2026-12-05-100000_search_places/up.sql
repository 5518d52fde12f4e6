-- Search that helps (#19, point 4): cities by name in both languages with the point a
-- distance is measured to (a named landmark, else the centre), where each provider is, and
-- a photo per provider. The photo's bytes live in their own table so instances stay
-- stateless and reading a provider never loads an image; `providers.photo_etag` names the
-- current one, so a search can link it without a join.
CREATE TABLE cities (
    slug text PRIMARY KEY CHECK (slug ~ '^[a-z]+(-[a-z]+)*$'),
    name_ar text NOT NULL CHECK (name_ar <> ''),
    name_en text NOT NULL CHECK (name_en <> ''),
    centre_lat double precision NOT NULL CHECK (centre_lat BETWEEN -90 AND 90),
    centre_lon double precision NOT NULL CHECK (centre_lon BETWEEN -180 AND 180),
    landmark_ar text,
    landmark_en text,
    landmark_lat double precision CHECK (landmark_lat BETWEEN -90 AND 90),
    landmark_lon double precision CHECK (landmark_lon BETWEEN -180 AND 180),
    -- A landmark is named in both languages and placed, or not there at all.
    CHECK ((landmark_ar IS NULL) = (landmark_en IS NULL)
       AND (landmark_ar IS NULL) = (landmark_lat IS NULL)
       AND (landmark_ar IS NULL) = (landmark_lon IS NULL))
);

INSERT INTO cities (slug, name_ar, name_en, centre_lat, centre_lon, landmark_ar, landmark_en, landmark_lat, landmark_lon) VALUES
    ('riyadh', 'الرياض', 'Riyadh', 24.7136, 46.6753, NULL, NULL, NULL, NULL),
    ('jeddah', 'جدة', 'Jeddah', 21.4858, 39.1925, NULL, NULL, NULL, NULL),
    ('makkah', 'مكة المكرمة', 'Makkah', 21.3891, 39.8579, 'المسجد الحرام', 'Al-Masjid al-Haram', 21.4225, 39.8262),
    ('madinah', 'المدينة المنورة', 'Madinah', 24.5247, 39.5692, 'المسجد النبوي', 'Al-Masjid an-Nabawi', 24.4672, 39.6111),
    ('dammam', 'الدمام', 'Dammam', 26.4207, 50.0888, NULL, NULL, NULL, NULL);

ALTER TABLE providers
    ADD COLUMN latitude double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN photo_etag text,
    ADD CONSTRAINT providers_position_whole CHECK ((latitude IS NULL) = (longitude IS NULL));

CREATE TABLE provider_photos (
    provider_id uuid PRIMARY KEY REFERENCES providers (id) ON DELETE CASCADE,
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes bytea NOT NULL,
    etag text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
