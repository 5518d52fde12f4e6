//! Who stays in each room of a hotel stay (#15, point 2): adults, and children with their
//! ages, room by room. Parsed at the edge from a search's `rooms`, `occupancy` (adults per
//! room, `2,1`) and `children` (`room:age` pairs, `1:7,1:3`), or from the older `guests`
//! spread over the rooms; carried in offers and bookings.

use serde::{Deserialize, Serialize};

/// The most rooms one stay may take, and the oldest age a child may have.
pub const MAX_ROOMS: u32 = 9;
pub const MAX_CHILD_AGE: u32 = 17;
/// Adults in one room, at most.
const MAX_ADULTS: u32 = 8;
/// Children in one room, at most.
const MAX_CHILDREN: usize = 6;

/// One room's guests. Serialised compactly in offer ids: `[adults, age, age…]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoomGuests {
    pub adults: u32,
    /// Ages of the children, youngest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<u32>,
}

impl RoomGuests {
    pub fn people(&self) -> u32 {
        self.adults + u32::try_from(self.children.len()).unwrap_or(u32::MAX)
    }
}

/// Every room's guests, in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Occupancy(pub Vec<RoomGuests>);

/// A problem with the occupancy asked for: which parameter, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccupancyError {
    pub field: &'static str,
    pub message: String,
}

fn error(field: &'static str, message: impl Into<String>) -> OccupancyError {
    OccupancyError {
        field,
        message: message.into(),
    }
}

impl Occupancy {
    pub fn rooms(&self) -> u32 {
        u32::try_from(self.0.len()).unwrap_or(u32::MAX)
    }

    /// Everyone staying, children included.
    pub fn guests(&self) -> u32 {
        self.0.iter().map(RoomGuests::people).sum()
    }

    /// The fullest room: what a room type's `max_guests` must take.
    pub fn fullest_room(&self) -> u32 {
        self.0.iter().map(RoomGuests::people).max().unwrap_or(0)
    }

    /// `guests` adults spread over `rooms` as evenly as they go (the first rooms take one
    /// more): what a search without `occupancy` means.
    pub fn spread(guests: u32, rooms: u32) -> Self {
        let rooms = rooms.max(1);
        Self(
            (0..rooms)
                .map(|i| RoomGuests {
                    adults: guests / rooms + u32::from(i < guests % rooms),
                    children: Vec::new(),
                })
                .collect(),
        )
    }

    /// A search's or booking's occupancy: `occupancy` (adults per room, comma-separated)
    /// sets the rooms, and `rooms`, when also given, must agree; `children` adds children
    /// as `room:age` pairs (rooms counted from 1). Without `occupancy`, `guests` adults are
    /// spread over `rooms` (children still apply).
    pub fn parse(
        rooms: Option<u32>,
        occupancy: Option<&str>,
        children: Option<&str>,
        guests: Option<u32>,
    ) -> Result<Self, OccupancyError> {
        let mut parsed = match occupancy {
            Some(text) => {
                let adults = text
                    .split(',')
                    .map(|part| part.trim().parse::<u32>())
                    .collect::<Result<Vec<u32>, _>>()
                    .map_err(|_| {
                        error("occupancy", "adults per room, comma-separated: e.g. 2,1")
                    })?;
                if let Some(rooms) = rooms
                    && usize::try_from(rooms).ok() != Some(adults.len())
                {
                    return Err(error(
                        "occupancy",
                        format!("names {} rooms but rooms is {rooms}", adults.len()),
                    ));
                }
                Self(
                    adults
                        .into_iter()
                        .map(|adults| RoomGuests {
                            adults,
                            children: Vec::new(),
                        })
                        .collect(),
                )
            }
            None => {
                let guests = guests.ok_or_else(|| error("guests", "is required"))?;
                if guests == 0 {
                    return Err(error("guests", "must be at least 1"));
                }
                let rooms = rooms.unwrap_or(1);
                if rooms == 0 || rooms > MAX_ROOMS {
                    return Err(error("rooms", format!("must be between 1 and {MAX_ROOMS}")));
                }
                if guests < rooms {
                    return Err(error("guests", "must be at least one per room"));
                }
                Self::spread(guests, rooms)
            }
        };
        if let Some(text) = children.filter(|t| !t.trim().is_empty()) {
            for pair in text.split(',') {
                let (room, age) = pair.trim().split_once(':').ok_or_else(|| {
                    error("children", "room:age pairs, comma-separated: e.g. 1:7,2:3")
                })?;
                let room: usize = room.trim().parse().map_err(|_| {
                    error("children", "room:age pairs, comma-separated: e.g. 1:7,2:3")
                })?;
                let age: u32 = age
                    .trim()
                    .parse()
                    .map_err(|_| error("children", "an age is a whole number of years"))?;
                if age > MAX_CHILD_AGE {
                    return Err(error(
                        "children",
                        format!("a child is 0 to {MAX_CHILD_AGE} years old"),
                    ));
                }
                let Some(guests) = room.checked_sub(1).and_then(|i| parsed.0.get_mut(i)) else {
                    return Err(error(
                        "children",
                        format!("room {room} is not one of the {} rooms", parsed.rooms()),
                    ));
                };
                guests.children.push(age);
            }
        }
        parsed.check()?;
        Ok(parsed)
    }

    /// The limits every occupancy keeps, however it was given.
    pub fn check(&mut self) -> Result<(), OccupancyError> {
        if self.0.is_empty() || self.rooms() > MAX_ROOMS {
            return Err(error(
                "occupancy",
                format!("between 1 and {MAX_ROOMS} rooms"),
            ));
        }
        for room in &mut self.0 {
            if room.adults == 0 {
                return Err(error("occupancy", "every room needs an adult"));
            }
            if room.adults > MAX_ADULTS {
                return Err(error(
                    "occupancy",
                    format!("at most {MAX_ADULTS} adults in a room"),
                ));
            }
            if room.children.len() > MAX_CHILDREN {
                return Err(error(
                    "children",
                    format!("at most {MAX_CHILDREN} children in a room"),
                ));
            }
            room.children.sort_unstable();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(adults: u32, children: &[u32]) -> RoomGuests {
        RoomGuests {
            adults,
            children: children.to_vec(),
        }
    }

    #[test]
    fn rooms_with_their_adults_and_children() {
        let parsed = Occupancy::parse(Some(2), Some("2,1"), Some("1:7,1:3,2:10"), None).unwrap();
        assert_eq!(parsed, Occupancy(vec![room(2, &[3, 7]), room(1, &[10])]));
        assert_eq!(parsed.guests(), 6);
        assert_eq!(parsed.fullest_room(), 4);
        assert_eq!(
            Occupancy::parse(None, Some("2"), None, None).unwrap(),
            Occupancy(vec![room(2, &[])])
        );
    }

    #[test]
    fn guests_alone_are_spread_over_the_rooms() {
        assert_eq!(
            Occupancy::parse(Some(2), None, None, Some(5)).unwrap(),
            Occupancy(vec![room(3, &[]), room(2, &[])])
        );
        assert_eq!(
            Occupancy::parse(None, None, Some("1:4"), Some(2)).unwrap(),
            Occupancy(vec![room(2, &[4])])
        );
    }

    #[test]
    fn bad_occupancies_name_the_parameter() {
        let field = |r, o, c, g| Occupancy::parse(r, o, c, g).unwrap_err().field;
        assert_eq!(field(Some(3), Some("2,1"), None, None), "occupancy");
        assert_eq!(field(None, Some("2,x"), None, None), "occupancy");
        assert_eq!(field(None, Some("0"), None, None), "occupancy");
        assert_eq!(field(None, Some("2"), Some("2:7"), None), "children");
        assert_eq!(field(None, Some("2"), Some("1:18"), None), "children");
        assert_eq!(field(None, Some("2"), Some("7"), None), "children");
        assert_eq!(field(None, None, None, None), "guests");
        assert_eq!(field(Some(3), None, None, Some(2)), "guests");
        assert_eq!(field(Some(10), None, None, Some(20)), "rooms");
    }
}
