//! A photo per provider: an admin uploads one (JPEG, PNG or WebP, known by its first bytes,
//! not by what the client declares), kept in PostgreSQL so every instance serves it, and
//! served to anyone with an ETag. Search results link it as `/v1/providers/{id}/photo?v=…`,
//! so a new photo is a new URL and browsers may keep the old one for a day.

use diesel::prelude::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::store::ProviderRow;
use crate::schema::{provider_photos, providers};

/// Enough for a sharp card photo (a 1200 px JPEG); a page of results loads several.
pub const MAX_PHOTO_BYTES: usize = 512 * 1024;

/// The image types a photo may be, each known by its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
    Webp,
}

impl ImageType {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    pub fn from_content_type(value: &str) -> Option<Self> {
        [Self::Jpeg, Self::Png, Self::Webp]
            .into_iter()
            .find(|kind| kind.content_type() == value)
    }

    /// What the bytes are, by their magic numbers; `None` for anything else.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }
}

/// A stored photo, as it is served.
#[derive(Debug, Queryable)]
pub struct Photo {
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// Where a provider's current photo is served, when it has one.
pub fn photo_url(provider: &ProviderRow) -> Option<String> {
    provider
        .photo_etag
        .as_ref()
        .map(|etag| format!("/v1/providers/{}/photo?v={etag}", provider.id))
}

/// Replaces the provider's photo and names it on the provider, in one transaction; `false`
/// when there is no such provider.
pub fn save_photo(
    conn: &mut PgConnection,
    provider_id: Uuid,
    kind: ImageType,
    bytes: &[u8],
) -> QueryResult<bool> {
    let digest = Sha256::digest(bytes);
    let etag: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    conn.transaction(|conn| {
        let named = diesel::update(providers::table.find(provider_id))
            .set(providers::photo_etag.eq(&etag))
            .execute(conn)?;
        if named == 0 {
            return Ok(false);
        }
        diesel::insert_into(provider_photos::table)
            .values((
                provider_photos::provider_id.eq(provider_id),
                provider_photos::content_type.eq(kind.content_type()),
                provider_photos::bytes.eq(bytes),
                provider_photos::etag.eq(&etag),
            ))
            .on_conflict(provider_photos::provider_id)
            .do_update()
            .set((
                provider_photos::content_type.eq(kind.content_type()),
                provider_photos::bytes.eq(bytes),
                provider_photos::etag.eq(&etag),
                provider_photos::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
        // Kept search answers carry the old URL.
        super::answer_cache::inventory_changed();
        Ok(true)
    })
}

pub fn find_photo(conn: &mut PgConnection, provider_id: Uuid) -> QueryResult<Option<Photo>> {
    provider_photos::table
        .find(provider_id)
        .select((
            provider_photos::content_type,
            provider_photos::bytes,
            provider_photos::etag,
        ))
        .first(conn)
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_known_by_their_first_bytes() {
        assert_eq!(
            ImageType::sniff(b"\xFF\xD8\xFF\xE0rest"),
            Some(ImageType::Jpeg)
        );
        assert_eq!(
            ImageType::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(ImageType::Png)
        );
        assert_eq!(
            ImageType::sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 "),
            Some(ImageType::Webp)
        );
        assert_eq!(ImageType::sniff(b"GIF89a"), None);
        assert_eq!(
            ImageType::sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            None
        );
        assert_eq!(ImageType::sniff(b"RIFF"), None);
    }
}
