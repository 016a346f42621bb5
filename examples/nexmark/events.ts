/**
 * The three kinds of Nexmark events (an online auction), as plain objects with a `type` discriminant.
 * Field names follow the Beam and Flink Nexmark models; times are epoch milliseconds, prices cents.
 */

/** A new user of the auction site. */
export interface Person {
  type: 'person';
  /** Person ids start at 1000 and grow by one every 50 events. */
  id: number;
  name: string;
  emailAddress: string;
  creditCard: string;
  city: string;
  /** A US state code: AZ, CA, ID, OR, WA or WY. */
  state: string;
  /** Event time, epoch milliseconds. */
  dateTime: number;
  /** Padding toward the average event size (~200 B for a person). */
  extra: string;
}

/** An item put up for auction by a seller (a person). */
export interface Auction {
  type: 'auction';
  /** Auction ids start at 1000 and grow by three every 50 events. */
  id: number;
  itemName: string;
  description: string;
  /** Cents. */
  initialBid: number;
  /** Cents; above `initialBid`. Bids below it cannot win. */
  reserve: number;
  /** Event time (when the auction opened), epoch milliseconds. */
  dateTime: number;
  /** When the auction closes, epoch milliseconds (after `dateTime`). */
  expires: number;
  /** The person selling. */
  seller: number;
  /** One of 10 … 14. */
  category: number;
  /** Padding toward the average event size (~500 B for an auction). */
  extra: string;
}

/** A bid of a person (`bidder`) on an auction. */
export interface Bid {
  type: 'bid';
  auction: number;
  bidder: number;
  /** Cents. */
  price: number;
  channel: string;
  url: string;
  /** Event time, epoch milliseconds. */
  dateTime: number;
  /** Padding toward the average event size (~100 B for a bid). */
  extra: string;
}

/** Any Nexmark event. */
export type NexmarkEvent = Person | Auction | Bid;
