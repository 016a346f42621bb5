import { count, definePipeline, max, sum, tumbling, type GeneratorOptions, type PipelineDefinition } from 'rivulet';

/** A card payment, as a payment processor would report it. */
export interface Payment {
  id: number;
  card: string;
  merchant: string;
  /** Amount in the card's currency. */
  amount: number;
  /** Event time: when the payment happened, epoch milliseconds. */
  ts: number;
}

/** Raised when a card spends too often or too much within one minute. */
export interface FraudAlert {
  card: string;
  reason: 'too_many_payments' | 'too_much_spent';
  payments: number;
  total: number;
  largest: number | null;
  windowStart: number;
  windowEnd: number;
}

export interface FraudOptions {
  /** More payments than this within one minute raise an alert. Default 8. */
  maxPaymentsPerMinute?: number;
  /** A total above this within one minute raises an alert. Default 2,000. */
  maxTotalPerMinute?: number;
  /** How late payments may arrive and still count. Default '2s'. */
  outOfOrderness?: `${number}s`;
  /** Feed `payments` with synthetic card payments. */
  generator?: Pick<GeneratorOptions<Payment>, 'ratePerSecond'>;
}

/**
 * The fraud pipeline: per card, one-minute tumbling windows of the payment count and total go to
 * `card-stats` (also a view by card); a card over either threshold raises an alert on `alerts`.
 */
export function fraudPipeline(options: FraudOptions = {}): PipelineDefinition {
  const maxPayments = options.maxPaymentsPerMinute ?? 8;
  const maxTotal = options.maxTotalPerMinute ?? 2000;
  return definePipeline({
    name: 'fraud',
    setup(app) {
      if (options.generator) app.generate<Payment>('payments', { ...options.generator, key: 'card', next: paymentGenerator() });
      const perCard = app
        .stream<Payment>('payments', { time: 'ts', key: 'card', outOfOrderness: options.outOfOrderness ?? '2s' })
        .filter((p) => p.amount > 0)
        .keyBy((p) => p.card)
        .window(tumbling('1m'))
        .aggregate({ payments: count(), total: sum((p: Payment) => p.amount), largest: max((p: Payment) => p.amount) });
      perCard.to('card-stats');
      perCard
        .filter((s) => s.payments > maxPayments || s.total > maxTotal)
        .map((s): FraudAlert => ({
          card: s.key,
          reason: s.payments > maxPayments ? 'too_many_payments' : 'too_much_spent',
          payments: s.payments,
          total: Math.round(s.total * 100) / 100,
          largest: s.largest,
          windowStart: s.start,
          windowEnd: s.end,
        }))
        .to('alerts');
    },
  });
}

/**
 * Synthetic payments: 20,000 cards paying small amounts, a little out of order; now and then one card
 * is "compromised" and bursts a dozen payments within seconds, which the pipeline should catch.
 */
export function paymentGenerator(seed = 42): (i: number, now: number) => Payment {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const merchants = ['grocer', 'fuel', 'cafe', 'online', 'pharmacy', 'electronics', 'travel'];
  let burstCard: string | null = null;
  let burstLeft = 0;
  return (i, now) => {
    if (burstLeft === 0 && rand() < 0.0005) {
      burstCard = `card-${String(Math.floor(rand() * 20000)).padStart(5, '0')}`;
      burstLeft = 12;
    }
    let card = `card-${String(Math.floor(rand() * 20000)).padStart(5, '0')}`;
    let amount = Math.round(Math.exp(2 + rand() * 3) * 100) / 100;
    if (burstLeft > 0 && rand() < 0.3) {
      card = burstCard!;
      amount = Math.round((150 + rand() * 250) * 100) / 100;
      burstLeft--;
    }
    return { id: i, card, merchant: merchants[Math.floor(rand() * merchants.length)]!, amount, ts: now - Math.floor(rand() * 1500) };
  };
}
