//! Cities by name in both languages, and how far a provider is from the point a visitor
//! cares about: the city's named landmark (Makkah: Al-Masjid al-Haram), else its centre.

use diesel::prelude::*;
use serde::Serialize;

use super::store::ProviderRow;
use crate::schema::cities;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = cities, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct CityRow {
    pub slug: String,
    pub name_ar: String,
    pub name_en: String,
    pub centre_lat: f64,
    pub centre_lon: f64,
    pub landmark_ar: Option<String>,
    pub landmark_en: Option<String>,
    pub landmark_lat: Option<f64>,
    pub landmark_lon: Option<f64>,
}

/// What a distance is measured to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    Landmark,
    CityCentre,
}

/// The point a city's distances are measured to, with its name as a reader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub reference: Reference,
    pub name_ar: String,
    pub name_en: String,
    pub lat: f64,
    pub lon: f64,
}

/// How far a provider is from its city's [`Place`], kilometres to one decimal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distance {
    pub km: f64,
    pub to: Reference,
    pub name_ar: String,
    pub name_en: String,
}

impl CityRow {
    /// The landmark when the city has one (all four columns are set together), else the centre.
    pub fn place(&self) -> Place {
        match (
            &self.landmark_ar,
            &self.landmark_en,
            self.landmark_lat,
            self.landmark_lon,
        ) {
            (Some(name_ar), Some(name_en), Some(lat), Some(lon)) => Place {
                reference: Reference::Landmark,
                name_ar: name_ar.clone(),
                name_en: name_en.clone(),
                lat,
                lon,
            },
            _ => Place {
                reference: Reference::CityCentre,
                name_ar: self.name_ar.clone(),
                name_en: self.name_en.clone(),
                lat: self.centre_lat,
                lon: self.centre_lon,
            },
        }
    }
}

impl Place {
    /// The provider's distance from here; none when the provider is not placed.
    pub fn distance_to(&self, provider: &ProviderRow) -> Option<Distance> {
        let (lat, lon) = (provider.latitude?, provider.longitude?);
        let km = haversine_km((self.lat, self.lon), (lat, lon));
        Some(Distance {
            km: (km * 10.0).round() / 10.0,
            to: self.reference,
            name_ar: self.name_ar.clone(),
            name_en: self.name_en.clone(),
        })
    }
}

/// Great-circle distance on a sphere of the Earth's mean radius: a few metres off at a
/// city's scale, which one decimal of a kilometre hides.
fn haversine_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0088;
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = (lat2 - lat1).to_radians();
    let d_lambda = (lon2 - lon1).to_radians();
    let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
}

/// Every named city, by slug.
pub fn all_cities(conn: &mut PgConnection) -> QueryResult<Vec<CityRow>> {
    cities::table
        .order(cities::slug)
        .select(CityRow::as_select())
        .load(conn)
}

/// One city, when it is named.
pub fn city(conn: &mut PgConnection, slug: &str) -> QueryResult<Option<CityRow>> {
    cities::table
        .find(slug)
        .select(CityRow::as_select())
        .first(conn)
        .optional()
}

/// Names and places a city, replacing what was there; kept search rosters carry the old place.
pub fn save_city(conn: &mut PgConnection, city: &CityRow) -> QueryResult<CityRow> {
    super::answer_cache::inventory_changed();
    diesel::insert_into(cities::table)
        .values(city)
        .on_conflict(cities::slug)
        .do_update()
        .set(city)
        .returning(CityRow::as_returning())
        .get_result(conn)
}

/// A city nobody has named yet, as its slug reads: `al-khobar` is "Al-Khobar".
pub fn name_from_slug(slug: &str) -> String {
    slug.split('-')
        .map(|word| {
            let mut letters = word.chars();
            letters
                .next()
                .map(|first| first.to_uppercase().chain(letters).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_known_distances() {
        // Al-Masjid al-Haram to Al-Masjid an-Nabawi: about 339 km as the crow flies.
        let km = haversine_km((21.4225, 39.8262), (24.4672, 39.6111));
        assert!((km - 339.3).abs() < 0.5, "{km}");
        assert_eq!(haversine_km((21.4225, 39.8262), (21.4225, 39.8262)), 0.0);
    }

    #[test]
    fn a_city_without_a_landmark_measures_to_its_centre() {
        let mut city = CityRow {
            slug: "makkah".into(),
            name_ar: "مكة المكرمة".into(),
            name_en: "Makkah".into(),
            centre_lat: 21.3891,
            centre_lon: 39.8579,
            landmark_ar: Some("المسجد الحرام".into()),
            landmark_en: Some("Al-Masjid al-Haram".into()),
            landmark_lat: Some(21.4225),
            landmark_lon: Some(39.8262),
        };
        assert_eq!(city.place().reference, Reference::Landmark);
        assert_eq!(city.place().name_en, "Al-Masjid al-Haram");
        city.landmark_lat = None;
        assert_eq!(city.place().reference, Reference::CityCentre);
        assert_eq!(city.place().name_en, "Makkah");
    }

    #[test]
    fn unnamed_cities_read_as_their_slug() {
        assert_eq!(name_from_slug("al-khobar"), "Al-Khobar");
        assert_eq!(name_from_slug("abha"), "Abha");
    }
}
