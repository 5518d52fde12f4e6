//! Why a search found nothing, as stable codes a page turns into advice: another city when
//! the city has no provider of the kind (or no clinic of the specialty), fewer guests per
//! room when no room there holds that many, else other dates. Cheap checks over the city's
//! roster and our own units; an outside provider's rooms and clinics are not known here, so a
//! city with one is never told it lacks them.

use diesel::dsl::max;
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::model::AvailabilityQuery;
use super::store::ProviderRow;
use crate::schema::units;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    OtherDates,
    FewerGuestsPerRoom,
    OtherCity,
    NoClinicOfSpecialtyInCity,
    /// The sort and filters of the answer (`result_view`) hid every offer found.
    FewerFilters,
}

/// The hints for a search that found no offer among `providers` (the city's roster).
pub fn empty_answer_hints(
    conn: &mut PgConnection,
    providers: &[ProviderRow],
    availability: &AvailabilityQuery,
) -> QueryResult<Vec<Hint>> {
    if providers.is_empty() {
        return Ok(vec![Hint::OtherCity]);
    }
    let all_local = providers.iter().all(|p| p.adapter == "local");
    let ids: Vec<Uuid> = providers.iter().map(|p| p.id).collect();
    match availability {
        AvailabilityQuery::Slots(slots) => {
            if let (Some(specialty), true) = (&slots.specialty, all_local) {
                let clinics: i64 = units::table
                    .filter(units::provider_id.eq_any(&ids))
                    .filter(units::kind.eq("clinic_service"))
                    .filter(units::active.eq(true))
                    .filter(units::specialty.eq(specialty.to_lowercase()))
                    .count()
                    .get_result(conn)?;
                if clinics == 0 {
                    return Ok(vec![Hint::NoClinicOfSpecialtyInCity, Hint::OtherCity]);
                }
            }
        }
        AvailabilityQuery::Stay(stay) if all_local => {
            let largest: Option<i32> = units::table
                .filter(units::provider_id.eq_any(&ids))
                .filter(units::kind.eq("room_type"))
                .filter(units::active.eq(true))
                .select(max(units::max_guests))
                .first(conn)?;
            let fullest = i32::try_from(stay.occupancy.fullest_room()).unwrap_or(i32::MAX);
            match largest {
                None => return Ok(vec![Hint::OtherCity]),
                Some(largest) if largest < fullest => {
                    return Ok(vec![Hint::FewerGuestsPerRoom, Hint::OtherCity]);
                }
                Some(_) => {}
            }
        }
        AvailabilityQuery::Stay(_) => {}
    }
    Ok(vec![Hint::OtherDates, Hint::OtherCity])
}
