// Who stays in each room of a hotel search: the form's editor (adults and each child's age,
// room by room), the query it makes (`occupancy=2,1&children=1:7`), and a room's line
// ("Room 1: 2 adults, 1 child (7)") shared by offers, the lead-guest dialog and the booking.
import { h, field, replace, announce } from './dom.js';
import { t, plural } from './i18n.js';

// A hold names at most 9 rooms; the search takes at most 20 guests and 8 adults a room.
export const MAX_ROOMS = 9;
const MAX_ADULTS = 8;
const MAX_CHILDREN = 4;
const MAX_GUESTS = 20;
const MAX_AGE = 17;

function whole(value, min, max) {
  const n = Number(value);
  return Number.isInteger(n) && n >= min && n <= max ? n : null;
}

/**
 * The rooms a search's parameters ask for: `occupancy` and `children`, or (an older link)
 * `guests` spread as adults over `rooms` the way the server does; two adults by default.
 */
export function parseRooms(params) {
  if (params.occupancy) {
    const rooms = String(params.occupancy).split(',').slice(0, MAX_ROOMS)
      .map((adults) => ({ adults: whole(adults, 1, MAX_ADULTS) ?? 2, children: [] }));
    for (const pair of String(params.children ?? '').split(',')) {
      const [room, age] = pair.split(':').map((part) => whole(part, 0, 99));
      if (room && rooms[room - 1] && age !== null && age <= MAX_AGE && rooms[room - 1].children.length < MAX_CHILDREN) {
        rooms[room - 1].children.push(age);
      }
    }
    return rooms;
  }
  const count = whole(params.rooms, 1, MAX_ROOMS) ?? 1;
  const guests = Math.min(Math.max(whole(params.guests, 1, MAX_GUESTS) ?? 2 * count, count), count * MAX_ADULTS);
  return Array.from({ length: count }, (_, i) => ({
    adults: Math.floor(guests / count) + (i < guests % count ? 1 : 0),
    children: [],
  }));
}

/** The search parameters for `rooms`: adults per room, and children as room:age pairs. */
export function occupancyQuery(rooms) {
  return {
    occupancy: rooms.map((room) => room.adults).join(','),
    children: rooms.flatMap((room, i) => (room.children ?? []).map((age) => `${i + 1}:${age}`)).join(','),
  };
}

export function guestCount(rooms) {
  return rooms.reduce((sum, room) => sum + room.adults + (room.children?.length ?? 0), 0);
}

/** "Room 1: 2 adults, 1 child (7)": a room of an offer or a booking, counted from 0. */
export function roomText(room, index) {
  const ages = room.children ?? [];
  const who = [plural('count.adults', room.adults)];
  if (ages.length) who.push(`${plural('count.children', ages.length)} (${ages.join(t('rooms.and'))})`);
  return t('rooms.line', { room: index + 1, who: who.join(t('rooms.and')) });
}

/**
 * The editor of `rooms` (changed in place): per room its adults and each child's age, with
 * buttons to add and remove children and rooms. Focus follows what was added or removed,
 * and each change is announced, so it works by keyboard and screen reader alike.
 */
export function roomsEditor(rooms) {
  const list = h('div', { class: 'rooms-list' });
  const addRoom = h('button', { type: 'button', class: 'secondary small add-room' }, t('rooms.add_room'));
  const editor = h('fieldset', { class: 'rooms-editor' }, h('legend', null, t('rooms.legend')), list,
    h('div', { class: 'actions' }, addRoom));

  addRoom.addEventListener('click', () => {
    rooms.push({ adults: 1, children: [] });
    draw();
    announce(t('rooms.added_room', { room: rooms.length }));
    list.querySelector(`[name="room-${rooms.length}-adults"]`)?.focus();
  });

  function roomBlock(room, index) {
    const number = index + 1;
    const adults = field({
      name: `room-${number}-adults`,
      label: t('rooms.adults', { room: number }),
      options: Array.from({ length: MAX_ADULTS }, (_, i) => [String(i + 1), String(i + 1)]),
      value: String(room.adults),
      required: true,
      attrs: { onchange: (event) => { room.adults = Number(event.target.value); } },
    });
    const children = room.children.map((age, childIndex) => {
      const child = childIndex + 1;
      const remove = h('button', {
        type: 'button', class: 'link remove-child', 'aria-label': t('rooms.remove_child_label', { child, room: number }),
      }, t('rooms.remove_child'));
      remove.addEventListener('click', () => {
        room.children.splice(childIndex, 1);
        draw();
        announce(t('rooms.removed_child', { room: number }));
        list.querySelector(`[data-room="${number}"] .add-child`)?.focus();
      });
      return h('li', { class: 'child' },
        field({
          name: `room-${number}-child-${child}`,
          label: t('rooms.child_age', { child, room: number }),
          options: Array.from({ length: MAX_AGE + 1 }, (_, a) => [String(a), a === 0 ? t('rooms.age_under_one') : String(a)]),
          value: String(age),
          required: true,
          attrs: { onchange: (event) => { room.children[childIndex] = Number(event.target.value); } },
        }),
        remove);
    });
    const addChild = room.children.length < MAX_CHILDREN
      ? h('button', {
        type: 'button', class: 'secondary small add-child', 'aria-label': t('rooms.add_child_label', { room: number }),
        onclick: () => {
          room.children.push(7);
          draw();
          announce(t('rooms.added_child', { room: number }));
          list.querySelector(`[name="room-${number}-child-${room.children.length}"]`)?.focus();
        },
      }, t('rooms.add_child'))
      : null;
    const removeRoom = rooms.length > 1
      ? h('button', {
        type: 'button', class: 'link remove-room', 'aria-label': t('rooms.remove_room_label', { room: number }),
        onclick: () => {
          rooms.splice(index, 1);
          draw();
          announce(t('rooms.removed_room', { room: number }));
          addRoom.focus();
        },
      }, t('rooms.remove_room'))
      : null;
    return h('fieldset', { class: 'room', dataset: { room: String(number) } },
      h('legend', null, t('rooms.room', { room: number })),
      adults,
      children.length ? h('ul', { class: 'children' }, children) : null,
      h('div', { class: 'actions' }, addChild, removeRoom));
  }

  function draw() {
    replace(list, rooms.map(roomBlock));
    addRoom.hidden = rooms.length >= MAX_ROOMS;
  }
  draw();
  return editor;
}

/** The editor's own check: at most 20 guests in all, named at the last room's adults. */
export function roomsErrors(rooms) {
  return guestCount(rooms) > MAX_GUESTS ? [[`room-${rooms.length}-adults`, t('rooms.error.guests')]] : [];
}
